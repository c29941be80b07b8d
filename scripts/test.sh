#!/usr/bin/env bash
# Runs the whole test suite: the library's unit, integration and doc tests
# with every feature, and the examples' and benchmarks' packages (built, and
# their unit tests run). Installs nats-server for the cluster tests
# (scripts/nats-server.sh) if it isn't there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
# The cluster tests (feature `cluster`) run against a real nats-server, which
# they start themselves from this binary; installed here if it is missing.
# Without it they fail (set FUTUREPOOL_NATS_SERVER to a binary of your own).
if [ -z "${FUTUREPOOL_NATS_SERVER:-}" ]; then
    FUTUREPOOL_NATS_SERVER=$(scripts/nats-server.sh install)
    export FUTUREPOOL_NATS_SERVER
fi
exec cargo test --workspace --all-features "$@"
