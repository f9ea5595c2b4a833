#!/usr/bin/env bash
# Profiles the delivery workers at saturation: runs `hookline-bench-cost`'s saturation phase (the real
# binaries as processes) with `perf record` on the worker processes, then prints the top inclusive costs
# by function. Needs `perf` (Debian's linux-perf) and perf_event_paranoid ≤ 2 (the default lets a user
# profile their own processes). Arguments are passed to the benchmark (the number of workers).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${PROFILE_OUT:-target/profile}
mkdir -p "$out"
if ! command -v perf >/dev/null; then
    echo "perf is missing: apt-get install linux-perf" >&2
    exit 1
fi
BENCH_ONLY=saturation BENCH_PROFILE="$out/perf.data" ./target/release/hookline-bench-cost "$@" | tee "$out/bench.txt"
# Inclusive ("children") cost by function, call chains folded away: the top of the table is what the
# workers spend their CPU under.
perf report -i "$out/perf.data" --children --sort symbol -g none --stdio --percent-limit 1 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -n 40 | tee "$out/top.txt"
echo "full report: perf report -i $out/perf.data --children"
