# Hookline tasks. `make run` and `make test` are all a newcomer needs.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

# Where sqlx's test harness creates (and drops) one database per test.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
# Where `make test` keeps everything the run logged, for the secret scan.
TEST_LOGS ?= target/debug/test-logs
# The database `make run` uses.
RUN_DATABASE ?= hookline

# Where `make helm-check` installs its Python tools.
HELM_VENV ?= target/helm-venv

.PHONY: run test chaos fuzz lint bench bench-isolation bench-console bench-cost profile bench-traces services db build helm-check browser

## run: build, start the local services, migrate, and run the three services and the console in the
## foreground; prints a sign-in link to the console for the demo organisation.
run: build services db
	./deploy/scripts/run-local.sh

## test: every test, against the real local RabbitMQ and PostgreSQL, and the Helm chart check; then
## the secret scan of everything the run logged (kept in target/debug/test-logs). The console's tests
## drive headless Chromium (installed by `make browser` when missing).
test: services helm-check browser
	cargo build --workspace --bins
	./target/debug/hookline-purge-test-queues
	rm -rf $(TEST_LOGS) && mkdir -p $(TEST_LOGS)
	set -o pipefail; DATABASE_URL=$(TEST_DATABASE_URL) cargo test --workspace 2>&1 | tee $(TEST_LOGS)/cargo-test.log
	./target/debug/hookline-scan-test-logs $(TEST_LOGS)

## chaos: the fault suite: the real binaries as processes, on a private PostgreSQL (initdb on a spare
## port) and a RabbitMQ vhost of its own, under kills, SIGTERMs, broker closes, a database outage and a
## table lock, then on a private three-node RabbitMQ cluster losing nodes; prints the table the README
## keeps and fails if anything was lost, leaked, stranded or late.
chaos: services
	cargo build --workspace --bins
	./target/debug/hookline-chaos

## fuzz: the cargo fuzz targets of the parsers of outside input (fuzz/), FUZZ_SECONDS each (20 by
## default; installs the pinned cargo-fuzz if it is missing).
fuzz:
	./deploy/scripts/fuzz.sh

## lint: formatting, clippy with warnings as errors, and the supply-chain check (cargo deny, deny.toml).
lint:
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	./deploy/scripts/deny.sh

# Arguments of both benchmarks: the number of workers, and `processes` to run the real binaries as
# processes of their own (e.g. `make bench BENCH_ARGS="2 processes"`); by default, one worker in-process.
BENCH_ARGS ?= 1

## bench: the whole pipeline at saturation and at a fixed rate, beside a raw RabbitMQ baseline.
bench: services
	cargo build --release --workspace --bins
	DATABASE_URL=$(TEST_DATABASE_URL) ./target/release/hookline-bench $(BENCH_ARGS)

## bench-isolation: what a slow endpoint, an endpoint down behind its breaker, an organisation's burst and
## poison events cost everyone else, beside the same figures without them (BENCH_ONLY picks one).
bench-isolation: services
	cargo build --release --workspace --bins
	DATABASE_URL=$(TEST_DATABASE_URL) ./target/release/hookline-bench-isolation $(BENCH_ARGS)

## bench-cost: what a delivery costs with the real binaries as processes (BENCH_ARGS workers): CPU of
## the workers and of the machine, PostgreSQL transactions, new connections and memory, at 200, 500 and
## 1,000 events/s, at saturation, and at fan-out 100, beside a raw RabbitMQ baseline.
bench-cost: services
	cargo build --release --workspace --bins
	DATABASE_URL=$(TEST_DATABASE_URL) ./target/release/hookline-bench-cost $(BENCH_ARGS)

## profile: the workers at saturation under `perf record` (root), built with frame pointers in
## target/frame-pointers; prints the top functions by own samples, their sum by component and the top
## inclusive costs, and keeps perf.data in target/profile.
profile: services
	RUSTFLAGS="-C force-frame-pointers=yes" CARGO_TARGET_DIR=target/frame-pointers \
		cargo build --release --workspace --bins
	DATABASE_URL=$(TEST_DATABASE_URL) ./deploy/scripts/profile.sh $(BENCH_ARGS)

## bench-console: the console's pages, signed in, for an organisation with 100,000 deliveries in its log,
## beside the console's own /healthz.
bench-console: services
	cargo build --release -p hookline-tests --bin hookline-bench-console
	DATABASE_URL=$(TEST_DATABASE_URL) ./target/release/hookline-bench-console

## bench-traces: the same benchmark with every span exported over OTLP/gRPC to a local sink that counts
## them, to see what tracing costs.
bench-traces: services
	cargo build --release -p hookline-tests --bin hookline-bench --bin hookline-otlp-sink
	./target/release/hookline-otlp-sink 127.0.0.1:4319 & sink=$$!; \
	DATABASE_URL=$(TEST_DATABASE_URL) OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4319 \
		./target/release/hookline-bench; status=$$?; \
	kill $$sink; wait $$sink; exit $$status

## helm-check: lint and render the chart with Helm's own engine (no helm binary), then validate every
## manifest against the Kubernetes schemas.
helm-check: $(HELM_VENV)/.installed
	$(HELM_VENV)/bin/python helm/check.py

$(HELM_VENV)/.installed: helm/requirements.txt
	python3 -m venv $(HELM_VENV)
	$(HELM_VENV)/bin/pip install --quiet --disable-pip-version-check -r helm/requirements.txt
	touch $@

## browser: install Debian's chromium and chromium-driver for the console's tests, if missing.
browser:
	./deploy/scripts/browser.sh

## services: start the local PostgreSQL and RabbitMQ if they are stopped.
services:
	./deploy/scripts/services.sh

## db: create the `make run` database if needed (migrations run when the stack starts).
db: services
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(RUN_DATABASE)'" | grep -q 1 \
		|| createdb -h 127.0.0.1 -U postgres $(RUN_DATABASE)

build:
	cargo build --workspace --bins
