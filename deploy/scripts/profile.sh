#!/usr/bin/env bash
# Profiles the delivery workers at saturation: runs `hookline-bench-cost`'s saturation phase (the real
# binaries as processes) under a machine-wide `perf record` with frame-pointer call graphs, then prints
# where the workers' CPU goes: the top functions by their own samples, those samples summed by component
# (kernel, allocator, tokio, lapin, sqlx, the HTTP client, TLS, JSON, Hookline's own code), and the top
# inclusive costs (a function with all it calls), leaving out the frames every stack passes through
# (thread start, tokio's scheduler, future combinators). Shares are of the workers' samples.
# `make profile` builds the binaries with frame pointers into target/frame-pointers first; DWARF
# unwinding, tried before, lost most stacks through glibc and the kernel. Needs `perf` (Debian's
# linux-perf), and root or perf_event_paranoid ≤ 0 for the machine-wide recording (see `Profile` in
# tests/src/bin/bench_cost.rs for why not per process). Arguments are passed to the benchmark (the
# number of workers).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${PROFILE_OUT:-target/profile}
mkdir -p "$out"
if ! command -v perf >/dev/null; then
    echo "perf is missing: apt-get install linux-perf" >&2
    exit 1
fi
bin=${PROFILE_BIN:-target/frame-pointers/release}
BENCH_ONLY=saturation BENCH_PROFILE="$out/perf.data" "$bin/hookline-bench-cost" "$@" | tee "$out/bench.txt"
# The workers' samples only, as shares of theirs.
report() {
    perf report -i "$out/perf.data" --pid "$(cat "$out/perf.data.pids")" --percentage relative \
        --sort symbol -g none --stdio --percent-limit 0 "$@" 2>/dev/null \
        | grep -v -e '^#' -e '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+/ /g'
}
# Every function with its share of the samples.
report --no-children > "$out/functions.txt"
# Every function with its inclusive share (the first column) and its own.
report --children > "$out/inclusive.txt"
{
    echo "top functions by own samples:"
    sed -n '1,15p' "$out/functions.txt"
    echo "own samples by component:"
    awk '{
        share = $1; sub(/%/, "", share); name = $0
        if ($2 == "[k]") c = "kernel"
        else if (name ~ /_rjem_|malloc|memalign|_int_free|cfree|unlink_chunk|realloc|tcache|consolidate|sdallocx/) c = "allocator"
        else if (name ~ /memmove|memcpy|memset|memcmp/) c = "memory copies (glibc)"
        else if (name ~ /lapin|amq_protocol|nom::|flume::/) c = "lapin (AMQP)"
        else if (name ~ /sqlx/) c = "sqlx"
        else if (name ~ /hyper|reqwest|h2::|http::/) c = "HTTP client"
        else if (name ~ /rustls|ring::|aws_lc|sha2|hmac/) c = "TLS, hashing and signing"
        else if (name ~ /serde|json/) c = "JSON"
        else if (name ~ /tokio|event_listener|futures|parking_lot|mio::/) c = "tokio and other scheduling"
        else if (name ~ /metrics|tracing|opentelemetry/) c = "metrics and tracing"
        else if (name ~ /hookline/) c = "hookline"
        else c = "other"
        total[c] += share
    } END { for (c in total) printf "%8.2f%%  %s\n", total[c], c }' "$out/functions.txt" | sort -rn
    echo "top inclusive costs (without thread start, the scheduler and future combinators):"
    grep -v -E 'thread_start|start_thread|clone3|call_once|rust_begin_short_backtrace|tokio::runtime::|PollFn|[Mm]aybe[Dd]one|IntoFuture|Instrumented|TrackedFuture|future::Map|map::Map|main::\{\{closure|run_until_stopped' \
        "$out/inclusive.txt" | sed -n '1,15p'
} | tee "$out/top.txt"
echo "full report: perf report -i $out/perf.data"
