#!/usr/bin/env bash
# Fuzzes the front ends (YAML, inventory INI/YAML, playbook loader, templates) with the
# libFuzzer-free mutation harness of tests/fuzz.rs: SECS seconds per target (default 120).
# Prints one `FUZZ <target> <executions> <seconds> <findings>` line per target; a finding
# (a panic or an input slower than 2 s) fails the run with the input printed.
# Usage: scripts/fuzz.sh [SECS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export SHIPSHAPE_FUZZ_SECS=${1:-120}
[ -n "${2:-}" ] && export SHIPSHAPE_FUZZ_SEED=$2
cargo test -q --test fuzz -- --ignored --nocapture --test-threads 1
