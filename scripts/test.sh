#!/usr/bin/env bash
# Runs the whole test suite: the library's unit, integration and doc tests
# with every feature, and the examples' and benchmarks' packages (built, and
# their unit tests run).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
exec cargo test --workspace --all-features "$@"
