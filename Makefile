# Hookline tasks. `make run` and `make test` are all a newcomer needs.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

# Where sqlx's test harness creates (and drops) one database per test.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
# The database `make run` uses.
RUN_DATABASE ?= hookline

.PHONY: run test lint bench services db build

## run: build, start the local services, migrate, and run the three services in the foreground.
run: build services db
	./deploy/scripts/run-local.sh

## test: every test, against the real local RabbitMQ and PostgreSQL.
test: services
	cargo build --workspace --bins
	DATABASE_URL=$(TEST_DATABASE_URL) cargo test --workspace

## lint: formatting and clippy, warnings as errors.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## bench: the whole pipeline at saturation and at a fixed rate, beside a raw RabbitMQ baseline.
bench: services
	DATABASE_URL=$(TEST_DATABASE_URL) cargo run --release -p hookline-tests --bin hookline-bench

## services: start the local PostgreSQL and RabbitMQ if they are stopped.
services:
	./deploy/scripts/services.sh

## db: create the `make run` database if needed (migrations run when the stack starts).
db: services
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(RUN_DATABASE)'" | grep -q 1 \
		|| createdb -h 127.0.0.1 -U postgres $(RUN_DATABASE)

build:
	cargo build --workspace --bins
