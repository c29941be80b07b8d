#!/usr/bin/env bash
# Runs the main example: primes checked sequentially, on a thread pool and on
# a process pool. Builds only futurepool and about 30 crates.
#
#   scripts/example.sh [COUNT]           the primes example
#   scripts/example.sh cluster [COUNT]   the same check on a cluster: a local
#                                        nats-server (installed into
#                                        target/nats/ if missing) and two
#                                        workers (feature `cluster`)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
if [ "${1:-}" = cluster ]; then
    shift
    if [ -z "${NATS_URL:-}" ] && [ -z "${FUTUREPOOL_NATS_SERVER:-}" ]; then
        FUTUREPOOL_NATS_SERVER=$(scripts/nats-server.sh install)
        export FUTUREPOOL_NATS_SERVER
    fi
    exec cargo run --release -p futurepool-examples --features cluster --example cluster -- "$@"
fi
exec cargo run --release -p futurepool-examples --example primes -- "$@"
