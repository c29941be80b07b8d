#!/usr/bin/env bash
# futurepool before and after: builds the crate at REV (by default the last
# commit before the core redesign of issues 9-11) beside this tree, runs the
# same bench code (this tree's benches/, futurepool's rows only) on both,
# alternately, ROUNDS times (default 3), and leaves the results under
# target/before-after/ for benches/report (BENCHMARKS.md, "Before and after
# the core redesign"). About 15 minutes on 2 cores, building included.
#
#   benches/before-after.sh [REV] [ROUNDS]
#   benches/run.sh --report     # then rewrite BENCHMARKS.md with them
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-0a2c041}
rounds=${2:-3}
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
root="$target/before-after"
export BLOCKING_MAX_THREADS=$(nproc)

rm -rf "$root"
mkdir -p "$root/before-src" "$root/rounds"
git rev-parse --short "$rev" > "$root/revision"
echo "== before: $(cat "$root/revision") ($(git log -1 --format=%s "$rev"))"
git archive "$rev" | tar -x -C "$root/before-src"
# The same bench code on both sides: this tree's.
rm -rf "$root/before-src/benches"
cp -r benches "$root/before-src/benches"
cp Cargo.lock "$root/before-src/Cargo.lock" 2>/dev/null || true

# side NAME SRC: runs futurepool's benchmarks of the tree at SRC once, into
# rounds/NAME/N.
side() {
    local name=$1 src=$2 n=$3
    local out="$root/rounds/$name/$n"
    local tdir="$root/$name-target"
    mkdir -p "$out"
    echo "== round $n: $name"
    rm -rf "$tdir/criterion"
    (cd "$src" && CARGO_TARGET_DIR="$tdir" cargo bench -q -p futurepool-benches \
        --bench thread_pool -- futurepool >/dev/null)
    (cd "$src" && CARGO_TARGET_DIR="$tdir" cargo bench -q -p futurepool-benches \
        --bench process_pool -- futurepool >/dev/null)
    cp -r "$tdir/criterion" "$out/criterion"
    # Memory: the bench binary's child mode, futurepool alone.
    local mem
    mem=$(ls -t "$tdir"/release/deps/memory-* | grep -v '\.d$' | head -1)
    FUTUREPOOL_MEM_PEER=futurepool "$mem" > "$out/memory.txt"
}

echo "== building both"
(cd "$root/before-src" && CARGO_TARGET_DIR="$root/before-target" \
    cargo bench -q -p futurepool-benches --no-run)
CARGO_TARGET_DIR="$root/after-target" cargo bench -q -p futurepool-benches --no-run

for n in $(seq 1 "$rounds"); do
    # Alternate which goes first, so that a drift of the machine during a
    # round doesn't always favour the same side.
    if ((n % 2)); then
        side before "$root/before-src" "$n"
        side after "$PWD" "$n"
    else
        side after "$PWD" "$n"
        side before "$root/before-src" "$n"
    fi
done
echo "== done: benches/run.sh --report writes the section into BENCHMARKS.md"
