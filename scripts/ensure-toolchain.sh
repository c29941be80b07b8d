#!/usr/bin/env bash
# Makes sure a Rust toolchain new enough for this crate is on PATH.
# Sourced by the other scripts:
#
#   . scripts/ensure-toolchain.sh          # cargo and rustc, at least the crate's rust-version
#   . scripts/ensure-toolchain.sh lint     # the same, plus rustfmt and clippy (CI)
#
# It installs Rust with rustup only where cargo is missing, updates a rustup
# toolchain that is too old, and otherwise stops with a message saying what
# to install. A distribution's cargo (no rustup) is fine if it is new enough.
set -euo pipefail

_ft_need_lints=${1:-}
_ft_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_ft_required=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$_ft_root/Cargo.toml" | head -n 1)

# The scripts build every feature, and the `cluster` feature (async-nats
# 0.51) needs Rust 1.89: the crate without it keeps its rust-version.
_ft_cluster_rust=1.89

_ft_die() {
    echo "error: $*" >&2
    exit 1
}

# Whether version $1 (x.y[.z]) is at least $2.
_ft_at_least() {
    local IFS=.
    # shellcheck disable=SC2206
    local have=($1) want=($2)
    for i in 0 1 2; do
        local h=${have[i]:-0} w=${want[i]:-0}
        if ((10#$h > 10#$w)); then return 0; fi
        if ((10#$h < 10#$w)); then return 1; fi
    done
    return 0
}

if ! _ft_at_least "$_ft_required" "$_ft_cluster_rust"; then
    _ft_required=$_ft_cluster_rust
fi

if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

if ! command -v cargo >/dev/null 2>&1; then
    if ! command -v rustup >/dev/null 2>&1; then
        command -v curl >/dev/null 2>&1 ||
            _ft_die "Rust is not installed and curl is missing to install it: install Rust $_ft_required or newer (https://rustup.rs, or your distribution's rustc and cargo packages)"
        echo "cargo not found: installing Rust with rustup (https://rustup.rs)" >&2
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal ||
            _ft_die "could not install Rust with rustup (no network?): install Rust $_ft_required or newer by hand (https://rustup.rs)"
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    else
        rustup toolchain install stable --profile minimal ||
            _ft_die "rustup could not install a toolchain (no network?)"
    fi
fi

_ft_have=$(cargo --version | sed -n 's/^cargo \([0-9][0-9.]*\).*/\1/p')
if [ -n "$_ft_required" ] && ! _ft_at_least "$_ft_have" "$_ft_required"; then
    if command -v rustup >/dev/null 2>&1 && rustup show active-toolchain >/dev/null 2>&1; then
        echo "cargo $_ft_have is older than this crate's rust-version ($_ft_required): updating with rustup" >&2
        rustup update stable --no-self-update ||
            _ft_die "cargo $_ft_have is older than the $_ft_required this crate needs, and rustup could not update it (no network?)"
        _ft_have=$(cargo --version | sed -n 's/^cargo \([0-9][0-9.]*\).*/\1/p')
        _ft_at_least "$_ft_have" "$_ft_required" ||
            _ft_die "cargo $_ft_have is still older than $_ft_required after 'rustup update' (is a rust-toolchain file or override pinning an old one?)"
    else
        _ft_die "cargo $_ft_have is older than the $_ft_required this crate needs: install a newer Rust (https://rustup.rs) or put a newer cargo first on PATH"
    fi
fi

command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1 ||
    _ft_die "no C compiler (cc) found: Rust needs one to link programs (Debian/Ubuntu: apt install gcc; Fedora: dnf install gcc; macOS: xcode-select --install)"

if [ "$_ft_need_lints" = lint ]; then
    for _ft_tool in rustfmt clippy; do
        _ft_cmd=$_ft_tool
        [ "$_ft_tool" = rustfmt ] && _ft_cmd=fmt
        if ! cargo "$_ft_cmd" --version >/dev/null 2>&1; then
            command -v rustup >/dev/null 2>&1 ||
                _ft_die "cargo $_ft_cmd is missing and there is no rustup to add it: install your distribution's $_ft_tool package"
            rustup component add "$_ft_tool" ||
                _ft_die "rustup could not add $_ft_tool (no network?)"
        fi
    done
fi
unset _ft_need_lints _ft_root _ft_required _ft_have _ft_tool _ft_cmd
