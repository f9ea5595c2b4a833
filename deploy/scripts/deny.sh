#!/usr/bin/env bash
# The supply-chain check of `make lint`: cargo deny against deny.toml (licences, bans, sources, and
# RustSec's advisories). Installs the pinned cargo-deny if it is missing. The advisory database is
# fetched from GitHub; where GitHub cannot be reached (this project's CI machine reaches crates.io
# only), that one check is skipped with a notice rather than failing every lint.
set -euo pipefail

version=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $version"; then
  echo "deny: installing cargo-deny $version"
  cargo install --quiet --locked cargo-deny --version "$version"
fi

checks=(bans licenses sources)
if timeout 15 git ls-remote --quiet https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  checks=(advisories "${checks[@]}")
else
  echo "deny: RustSec's advisory database (github.com) is unreachable from here; advisories not checked" >&2
fi
# Errors only: duplicate versions are warnings (deny.toml says why); `cargo deny check bans` lists them.
cargo deny --log-level error check --hide-inclusion-graph "${checks[@]}"
