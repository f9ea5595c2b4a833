#!/usr/bin/env bash
# Profiles the delivery workers at saturation: runs `hookline-bench-cost`'s saturation phase (the real
# binaries as processes) with `perf record` on the worker processes, then prints where their CPU goes:
# the top functions by their own samples, and those samples summed by component (kernel, allocator,
# tokio, lapin, sqlx, the HTTP client, TLS, JSON, Hookline's own code). Own samples, not inclusive ones:
# DWARF unwinding through glibc and the kernel loses most stacks on this machine (perf attributes 70 %
# of "children" to an unknown frame), so an inclusive table would rank thread start-up first. Needs
# `perf` (Debian's linux-perf) and perf_event_paranoid ≤ 2 (the default lets a user profile their own
# processes). Arguments are passed to the benchmark (the number of workers).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${PROFILE_OUT:-target/profile}
mkdir -p "$out"
if ! command -v perf >/dev/null; then
    echo "perf is missing: apt-get install linux-perf" >&2
    exit 1
fi
BENCH_ONLY=saturation BENCH_PROFILE="$out/perf.data" ./target/release/hookline-bench-cost "$@" | tee "$out/bench.txt"
# Every function with its share of the samples, comments and padding stripped.
perf report -i "$out/perf.data" --no-children --sort symbol -g none --stdio --percent-limit 0 2>/dev/null \
    | grep -v -e '^#' -e '^$' | sed 's/[[:space:]]*$//' > "$out/functions.txt"
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
} | tee "$out/top.txt"
echo "full report: perf report -i $out/perf.data"
