#!/usr/bin/env bash
# Runs the main example: primes checked sequentially and on the pool.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
exec cargo run --release --features process --example primes -- "$@"
