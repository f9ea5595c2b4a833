#!/usr/bin/env bash
# The cargo fuzz targets (fuzz/fuzz_targets), each run for FUZZ_SECONDS (20 by default; CI's short run).
# A longer run: FUZZ_SECONDS=3600 deploy/scripts/fuzz.sh, or one target:
# FUZZ_SECONDS=600 deploy/scripts/fuzz.sh signature. A crash leaves its input in fuzz/artifacts/<target>/.
# libFuzzer needs nightly compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
    echo "fuzz: installing cargo-fuzz $version"
    cargo install cargo-fuzz --version "$version" --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-20}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
for target in "${targets[@]}"; do
    echo "fuzz: $target for ${seconds}s"
    log=fuzz/target/$target.log
    mkdir -p fuzz/target
    if cargo fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 > "$log" 2>&1; then
        grep -E "^Done" "$log" || true
    else
        grep -E "panicked|SUMMARY|ERROR" "$log" | head -5
        echo "fuzz: $target failed (log: $log); its input is in fuzz/artifacts/$target/"
        exit 1
    fi
done
