#!/usr/bin/env bash
# Runs the main example: primes checked sequentially, on a thread pool and on
# a process pool. Builds only futurepool and about 30 crates.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
exec cargo run --release -p futurepool-examples --example primes -- "$@"
