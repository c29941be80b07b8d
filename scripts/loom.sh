#!/usr/bin/env bash
# Model-checks the core's interleavings with loom: the crate's own code,
# built with `--cfg futurepool_loom` so that every lock, condvar, atomic and
# thread comes from loom (src/loom/). The models are the unit tests in
# src/core/models.rs. LOOM_MAX_PREEMPTIONS bounds the search (default 3) so
# the run stays within minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
export RUSTFLAGS="${RUSTFLAGS:-} --cfg futurepool_loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
exec cargo test -p futurepool --lib --release core::models -- --test-threads=1 "$@"
