#!/usr/bin/env bash
# A real Kafka-protocol broker for the Kafka log tests: tansu (a Rust crate, built with cargo install), SQLite storage in a
# temporary directory, listening on a free port of 127.0.0.1.
#
#   eval "$(.ci/kafka-broker.sh start)"   # exports HOOKMETRY_TEST_KAFKA=127.0.0.1:PORT,
#                                         # HOOKMETRY_KAFKA_BROKER_PID=PID,
#                                         # HOOKMETRY_TEST_KAFKA_BROKER=tansu and
#                                         # HOOKMETRY_TANSU=<the tansu binary>
#   cargo test -p hookmetry-log           # its kafka_conformance tests now run against it
#   .ci/kafka-broker.sh stop "$HOOKMETRY_KAFKA_BROKER_PID"
#   .ci/kafka-broker.sh install           # only builds the broker when it is missing (.ci/run
#                                         # starts this in the background, before clippy)
#
# `start` prints only the `export` lines on stdout (progress goes to stderr), and returns once
# the port accepts connections (or fails after $KAFKA_BROKER_WAIT seconds, default 60). `stop`
# ends that broker (TERM, then KILL after 10 s) and removes its data directory.
#
# The broker is $HOOKMETRY_TANSU (as for tests/suite/cluster.rs), else `tansu` on PATH, else
# $HOME/.cargo/bin/tansu; when there is none it is installed with `cargo install`. Its `memory://`
# engine is not used: it skips records after a consumer restarts. TANSU_VERSION pins the version
# installed (default 0.6.0).
#
# The build is the longest part of a first CI run (.ci/run starts it in the background), so it is
# made at opt-level 1 instead of 3 (a test broker moves a few thousand records; 475 s instead of
# 575 s on two cores) with only the feature the tests use, `libsql` (SQLite storage). See
# docs/testing.md for the timings.
set -euo pipefail

TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
WAIT="${KAFKA_BROKER_WAIT:-60}"

log() { echo "kafka-broker: $*" >&2; }

find_tansu() {
    if [ -n "${HOOKMETRY_TANSU:-}" ] && [ -x "$HOOKMETRY_TANSU" ]; then
        echo "$HOOKMETRY_TANSU"
    elif command -v tansu >/dev/null 2>&1; then
        command -v tansu
    elif [ -x "$HOME/.cargo/bin/tansu" ]; then
        echo "$HOME/.cargo/bin/tansu"
    else
        return 1
    fi
}

install_tansu() {
    log "tansu not found: cargo install tansu $TANSU_VERSION (sqlite storage; this takes a while)"
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
        cargo install tansu --locked --version "$TANSU_VERSION" --features libsql >&2
}

install() {
    local tansu
    if tansu="$(find_tansu)"; then
        log "using $tansu"
        return 0
    fi
    install_tansu
    find_tansu >/dev/null || {
        log "tansu is still missing after cargo install"
        exit 1
    }
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local tansu dir port pid attempt waited
    tansu="$(find_tansu)" || { install_tansu && tansu="$(find_tansu)"; } || {
        log "tansu is still missing after cargo install"
        exit 1
    }
    dir="$(mktemp -d "${TMPDIR:-/tmp}/hookmetry-kafka.XXXXXX")"
    for attempt in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        if port_in_use "$port"; then
            continue
        fi
        # Own session, no terminal and no inherited stdout: `$(... start)` returns at once and the
        # broker outlives this script until `stop`. SQLite paths are relative to the broker's cwd.
        (cd "$dir" && exec setsid "$tansu" broker \
            --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$port" \
            --storage-engine "sqlite://tansu.db" \
            </dev/null >>"$dir/tansu.log" 2>&1) &
        pid=$!
        waited=0
        while [ "$waited" -lt $((WAIT * 10)) ]; do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            if port_in_use "$port"; then
                log "tansu (pid $pid) listens on 127.0.0.1:$port, data in $dir"
                echo "export HOOKMETRY_TEST_KAFKA=127.0.0.1:$port"
                echo "export HOOKMETRY_KAFKA_BROKER_PID=$pid"
                # The tests know tansu's defects (see Quirks in services/lib/log/tests/kafka_conformance.rs).
                echo "export HOOKMETRY_TEST_KAFKA_BROKER=tansu"
                echo "export HOOKMETRY_TANSU=$tansu"
                return 0
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "tansu (pid $pid) did not accept connections on port $port within ${WAIT}s"
            kill -KILL "$pid" 2>/dev/null || true
            tail -20 "$dir/tansu.log" >&2 || true
            rm -rf "$dir"
            exit 1
        fi
        log "tansu exited on port $port (attempt $attempt):"
        tail -5 "$dir/tansu.log" >&2 || true
    done
    rm -rf "$dir"
    log "could not start tansu"
    exit 1
}

stop() {
    local pid="${1:-${HOOKMETRY_KAFKA_BROKER_PID:-}}" dir="" i
    if [ -z "$pid" ]; then
        log "usage: $0 stop PID (or set HOOKMETRY_KAFKA_BROKER_PID)"
        exit 2
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        log "no process $pid: nothing to stop"
        return 0
    fi
    # Never signal a process that is not our broker (a PID can be reused).
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "tansu" ]; then
        log "process $pid is not tansu: not stopping it"
        exit 1
    fi
    dir="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
    kill -TERM "$pid"
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "tansu (pid $pid) ignored TERM for 10 s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    case "$dir" in
        */hookmetry-kafka.*) rm -rf "$dir" ;;
    esac
    log "stopped tansu (pid $pid)"
}

case "${1:-}" in
    start) start ;;
    install) install ;;
    stop) stop "${2:-}" ;;
    *)
        echo "usage: $0 start | install | stop [PID]" >&2
        exit 2
        ;;
esac
