# Shared by the scripts in tools/ (sourced, not run).

# need COMMAND PACKAGE: installs PACKAGE (apt) when COMMAND is missing.
need() { # need COMMAND PACKAGE
    if ! command -v "$1" >/dev/null; then
        echo "installing $2" >&2
        apt-get update -qq && apt-get install -y -qq "$2" >&2
    fi
}

# free_port: prints a loopback port nobody listens on.
free_port() {
    local p
    for _ in $(seq 1 50); do
        # Below the ephemeral range (32768-60999 on Linux), where outgoing
        # connections take their ports.
        p=$((20000 + RANDOM % 12000))
        if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    echo "no free port found" >&2
    exit 1
}

# wait_ping PORT: waits (at most 30 s) until a RESP server answers PING on PORT.
wait_ping() {
    for _ in $(seq 1 300); do
        if redis-cli -p "$1" ping >/dev/null 2>&1; then return; fi
        sleep 0.1
    done
    echo "server on port $1 did not answer" >&2
    exit 1
}

# start_node NAME ARGS...: starts "$LOGSHIP_BIN" ARGS in the background (stdout
# in $TMP/NAME.out, stderr in $TMP/NAME.log), adds it to PIDS, waits for its
# first stdout line; sets NODE_PID and NODE_LINE. Exits with its log when it
# does not start.
start_node() {
    local name=$1
    shift
    "$LOGSHIP_BIN" "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    for _ in $(seq 1 300); do
        NODE_LINE=$(head -n 1 "$TMP/$name.out" 2>/dev/null || true)
        if [[ -n "$NODE_LINE" ]]; then return; fi
        if ! kill -0 "$NODE_PID" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "$name did not start:" >&2
    cat "$TMP/$name.log" >&2
    exit 1
}

# bench_start NAME: a scratch directory in TMP, and a cleanup at exit (also on
# SIGINT/SIGTERM) that kills every process in PIDS, shuts down every Redis on a
# port in REDIS_PORTS and removes TMP; log MESSAGE prints a timed line on stderr.
bench_start() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    PIDS=()
    REDIS_PORTS=()
    trap bench_cleanup EXIT
    trap "exit 130" INT TERM # so that EXIT cleans up on a signal too
}
bench_cleanup() {
    for p in ${PIDS[@]+"${PIDS[@]}"}; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    for p in ${REDIS_PORTS[@]+"${REDIS_PORTS[@]}"}; do
        redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    done
    rm -rf "$TMP"
}
log() { echo "[$(date -u +%T)] $*" >&2; }
