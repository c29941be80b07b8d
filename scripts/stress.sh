#!/usr/bin/env bash
# Reruns the reliability evidence of RELIABILITY.md, longer than CI does,
# and prints the figures:
#
#   1. the stress suites at FUTUREPOOL_STRESS_SCALE (default 10: 500,000
#      thread-pool tasks, 30,000 process-pool tasks with random kill -9s,
#      10,000 + 3,000 shutdown-race rounds);
#   2. the fuzzing: the decoders with PROPTEST_CASES cases per property
#      (default 20,000), the handshake with real processes with 1/40 of that;
#   3. the pool test suites under a CPU hog (two `yes > /dev/null`, killed
#      at the end whatever happens), HOG_RUNS times (default 3): reported,
#      not fatal (issue 13, fault 5);
#   4. valgrind (if installed): memcheck on the three stress programs,
#      helgrind and DRD on the thread-pool one.
#
# Exits non-zero if a stage of 1, 2 or 4 (memcheck) fails. Takes about
# 7 minutes on 2 cores. Usage: scripts/stress.sh [--no-valgrind]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
export CARGO_TERM_COLOR=never

scale=${FUTUREPOOL_STRESS_SCALE:-10}
cases=${PROPTEST_CASES:-20000}
hog_runs=${HOG_RUNS:-3}
use_valgrind=1
[ "${1:-}" = --no-valgrind ] && use_valgrind=0

report=$(mktemp)
export FUTUREPOOL_STRESS_REPORT=$report
hogs=()
failed=()
start=$(date +%s)
stage_start=$start
stage_name=""
timings=()

cleanup() {
    local pid
    for pid in "${hogs[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -f "$report"
}
trap cleanup EXIT

stage() {
    local now
    now=$(date +%s)
    if [ -n "$stage_name" ]; then
        timings+=("$(printf '%-58s %5ss' "$stage_name" $((now - stage_start)))")
    fi
    stage_name=$1
    stage_start=$now
    [ -n "$stage_name" ] && echo "== $stage_name"
    return 0
}

# Runs "$@"; on failure records the stage as failed and goes on.
must() {
    if ! "$@"; then
        failed+=("$stage_name")
    fi
}

# The path of test binary $1 (built).
test_exe() {
    cargo test --all-features --test "$1" --no-run --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*"' | tail -n 1 | sed 's/"executable":"\(.*\)"/\1/'
}

stage "build the test binaries"
cargo test --all-features -p futurepool --no-run

stage "stress suites, scale $scale"
must env FUTUREPOOL_STRESS_SCALE="$scale" cargo test --all-features \
    --test stress --test process_stress --test shutdown_races

stage "fuzz: decoders, $cases cases per property"
must env PROPTEST_CASES="$cases" cargo test --all-features --lib process_pool::fuzz
properties=$(cargo test --all-features --lib process_pool::fuzz -- --list 2>/dev/null | grep -c ': test$')
echo "stress: decoder fuzz: $properties properties x $cases cases passed" >>"$report"

stage "fuzz: handshake with processes, $((cases / 40)) cases per side"
must env PROPTEST_CASES=$((cases / 40)) cargo test --all-features --test process_fuzz
echo "stress: handshake fuzz with processes: 2 properties x $((cases / 40)) cases passed" >>"$report"

stage "pool suites under a CPU hog (2 x yes), $hog_runs runs (not fatal)"
yes >/dev/null &
hogs+=($!)
yes >/dev/null &
hogs+=($!)
for run in $(seq 1 "$hog_runs"); do
    if env -u FUTUREPOOL_STRESS_REPORT cargo test --all-features --test 'process_*' \
        --test thread_pool --test shutdown --test submit --test cancel --test help \
        >"$report.hog" 2>&1; then
        echo "stress: pool suites under a CPU hog, run $run: pass" >>"$report"
    else
        echo "stress: pool suites under a CPU hog, run $run: FAILED:" \
            "$(grep -E '^test .* FAILED$' "$report.hog" | sed 's/^test \(.*\) ... FAILED$/\1/' | tr '\n' ' ')" >>"$report"
    fi
done
rm -f "$report.hog"
for pid in "${hogs[@]}"; do
    kill "$pid" 2>/dev/null || true
done
wait "${hogs[@]}" 2>/dev/null || true
hogs=()

if [ "$use_valgrind" = 1 ] && command -v valgrind >/dev/null 2>&1; then
    stage "valgrind memcheck"
    # FUTUREPOOL_TEST_ALONE: run the test body itself (not a child copy).
    memcheck() {
        local bin=$1 name=$2 scale=$3 out
        out=$(mktemp)
        if FUTUREPOOL_TEST_ALONE=1 FUTUREPOOL_STRESS_SCALE=$scale FUTUREPOOL_STRESS_SLOWDOWN=100 \
            valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \
            --error-exitcode=99 "$(test_exe "$bin")" --exact "$name" --test-threads=1 \
            --nocapture >"$out" 2>&1; then
            echo "stress: memcheck $bin::$name (scale $scale):" \
                "$(grep -o 'ERROR SUMMARY: [0-9]* errors' "$out"), $(grep -o 'definitely lost: .*' "$out" | head -n 1)" >>"$report"
        else
            echo "stress: memcheck $bin::$name (scale $scale): FAILED (see below)" >>"$report"
            tail -n 60 "$out"
            failed+=("memcheck $bin::$name")
        fi
        rm -f "$out"
    }
    memcheck stress thread_pool_mixed_load 0.1
    memcheck shutdown_races thread_pool_shutdown_races 0.1
    memcheck process_stress process_pool_mixed_load_with_kills 0.1

    stage "valgrind helgrind and drd (reported, not fatal)"
    for tool in helgrind drd; do
        out=$(mktemp)
        FUTUREPOOL_TEST_ALONE=1 FUTUREPOOL_STRESS_SCALE=0.01 FUTUREPOOL_STRESS_SLOWDOWN=100 \
            valgrind --tool=$tool "$(test_exe stress)" --exact thread_pool_mixed_load \
            --test-threads=1 --nocapture >"$out" 2>&1 || true
        echo "stress: $tool on stress::thread_pool_mixed_load (scale 0.01):" \
            "$(grep -c 'every callback once' "$out") run passed its checks," \
            "$(grep -o 'ERROR SUMMARY: [0-9]* errors from [0-9]* contexts' "$out")" \
            "(see RELIABILITY.md: these tools don't model atomics)" >>"$report"
        rm -f "$out"
    done
else
    echo "stress: valgrind not run (not installed, or --no-valgrind)" >>"$report"
fi

stage ""
echo
echo "== figures"
cat "$report"
echo
echo "== stage times"
printf '%s\n' "${timings[@]}"
echo "total: $(($(date +%s) - start))s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
