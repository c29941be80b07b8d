#!/usr/bin/env bash
# Runs the whole test suite: unit tests, integration tests and doctests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
exec cargo test --all-features "$@"
