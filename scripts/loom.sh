#!/usr/bin/env bash
# Model-checks the crate's interleavings with loom: the crate's own code,
# built with `--cfg futurepool_loom` so that every lock, condvar, atomic and
# thread comes from loom (src/loom/). The models are the unit tests in
# src/core/models/ (explored completely: no preemption bound) and
# src/thread_pool/models.rs (bounded). What each proves, and what stands in
# where loom can't reach: src/core/models/mod.rs.
#
#   scripts/loom.sh                                  # every model (CI)
#   scripts/loom.sh thread_pool::models::lost_start  # the models matching a filter
#   LOOM_MAX_PREEMPTIONS=2 scripts/loom.sh           # a smaller bound
#   FUTUREPOOL_LOOM_UNCAPPED=1 scripts/loom.sh       # lift the per-model caps (long)
#
# LOOM_MAX_PREEMPTIONS bounds the pool's models (default 3; the two largest
# are capped at 2) so that the run stays within minutes on 2 cores. Each
# model prints its iterations, bound and time; a summary and the total
# follow. Further arguments go to the test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
export RUSTFLAGS="${RUSTFLAGS:-} --cfg futurepool_loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"

filter=models::
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
    filter=$1
    shift
fi

build_start=$(date +%s)
cargo test -p futurepool --lib --release --no-run
models_start=$(date +%s)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test -p futurepool --lib --release "$filter" -- --test-threads=1 --nocapture "$@" 2>&1 |
    tee "$log" || status=$?
end=$(date +%s)

echo "== loom models (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
grep -o 'loom model .*' "$log" || echo "(no model ran)"
echo "build: $((models_start - build_start))s, models: $((end - models_start))s"
exit "$status"
