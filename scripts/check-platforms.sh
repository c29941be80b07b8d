#!/usr/bin/env bash
# Compile-checks the library, with every feature, for platforms this machine
# can't run: a crate that depends on futurepool with the `process` feature
# must build everywhere, even where the process pool refuses to start.
# Skips (with a message) a target whose standard library can't be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-apple-darwin x86_64-pc-windows-msvc)

# Warnings are errors there too: code unused off Linux must say so.
all_but_cluster=process,indicatif,tracing
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"

for target in "${targets[@]}"; do
    if ! rustc --print sysroot >/dev/null 2>&1 ||
        ! [ -d "$(rustc --print sysroot)/lib/rustlib/$target" ]; then
        if ! command -v rustup >/dev/null 2>&1 || ! rustup target add "$target" >/dev/null 2>&1; then
            echo "skipped $target: its standard library is not installed and rustup could not add it"
            continue
        fi
    fi
    echo "checking $target"
    # Every feature but `cluster`: its `ring` (TLS, the object store's
    # checksums) has C that this machine can't cross-compile for these
    # targets; it builds natively there.
    cargo check -p futurepool --lib --features "$all_but_cluster" --target "$target"
    cargo check -p futurepool --lib --no-default-features --target "$target"
    cargo check -p futurepool --tests --features "$all_but_cluster" --target "$target"
done
