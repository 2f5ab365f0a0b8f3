#!/usr/bin/env bash
# Runs every test: unit tests and integration tests against a real OpenSSH sshd that the test
# harness starts on loopback ports (installs openssh-server and sudo first when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
cargo test --all-targets "$@"
