#!/usr/bin/env bash
# RustSec advisory check of Cargo.lock (cargo audit). The advisory database lives on GitHub:
# with SHIPSHAPE_ADVISORY_DB=DIR (a clone of github.com/rustsec/advisory-db) it is used offline;
# otherwise it is fetched, and when GitHub cannot be reached the step is SKIPPED with a message
# (not failed): an offline machine cannot know about new advisories.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-audit >/dev/null 2>&1; then
    if ! cargo install --locked --quiet cargo-audit >/dev/null 2>&1; then
        echo "SKIP cargo audit: cargo-audit is not installed and cannot be installed here" >&2
        exit 0
    fi
fi
db=${SHIPSHAPE_ADVISORY_DB:-}
if [ -n "$db" ]; then
    [ -d "$db/crates" ] || { echo "SHIPSHAPE_ADVISORY_DB=$db is not an advisory-db clone" >&2; exit 1; }
    echo "cargo audit against $db ($(git -C "$db" log -1 --format=%cs 2>/dev/null || echo 'unknown date'))"
    exec cargo audit --db "$db" --no-fetch --deny warnings
fi
if ! timeout 20 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    echo "SKIP cargo audit: github.com/rustsec/advisory-db is unreachable (no network?);" \
        "set SHIPSHAPE_ADVISORY_DB to a local clone to check offline" >&2
    exit 0
fi
exec cargo audit --deny warnings
