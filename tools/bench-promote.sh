#!/usr/bin/env bash
# Promotion benchmark: from the start of a promotion to the first write
# accepted on the new primary, for a caught-up standby, RUNS times (min, median,
# max), timed by tools/first-write.py (the client's connection is opened
# beforehand, SET is retried without a sleep); next to Redis's
# `REPLICAOF NO ONE` + SET measured the same way in the same run, two ways:
# the whole command (the `logship promote` / `redis-cli` process) and the
# server side (the request on a connection opened beforehand). The Redis
# baseline never fails silently: a server that does not start or a replica
# that does not sync stops the script with a message. Then a
# standby holding BACKLOG_BYTES received but not applied (--apply-delay): the
# promotion's total time against the time it spent applying. Prints markdown.
#
# Usage: tools/bench-promote.sh
# Environment:
#   RUNS=10                   promotions per row
#   KEYS=20000                keys written before each promotion (100-byte values)
#   BACKLOG_BYTES=268435456   the received-but-not-applied log of the last row (0: skip it)
#   LOGSHIP_BIN=...           use this binary instead of building target/release/logship
set -euo pipefail

RUNS=${RUNS:-10}
KEYS=${KEYS:-20000}
BACKLOG_BYTES=${BACKLOG_BYTES:-268435456}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEP_TIMEOUT=600
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

need redis-benchmark redis-tools
need redis-cli redis-tools
need redis-server redis-server
if [[ -z "${LOGSHIP_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOGSHIP_BIN="$ROOT/target/release/logship"
fi
L() { timeout "$STEP_TIMEOUT" "$LOGSHIP_BIN" "$@"; }

TMP=$(mktemp -d /tmp/bench-promote.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap "exit 130" INT TERM
log() { echo "[$(date -u +%T)] $*" >&2; }
now_ns() { date +%s%N; }
ms_between() { awk "BEGIN { printf \"%.3f\", ($2 - $1) / 1000000 }"; }
ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
json() { # json FIELD < one JSON object
    python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"
}
# stats: min median max of the numbers on stdin (one per line), in ms
stats() { sort -n | awk '{a[NR]=$1} END {printf "%.1f / %.1f / %.1f", a[1], (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[NR]}'; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# first_write PORT MODE: one promotion timed by tools/first-write.py (a
# connection opened beforehand, SET retried without a sleep until accepted);
# MODE is its --run/--resp/--admin and what follows. Prints milliseconds.
first_write() {
    local out
    out=$(timeout "$STEP_TIMEOUT" python3 "$ROOT/tools/first-write.py" --port "$@") || {
        echo "the promotion on port $1 failed (see above)" >&2
        exit 1
    }
    echo "${out%% *}"
}
# distinct_ports N: N free ports, all different (sets PORTS)
distinct_ports() {
    PORTS=()
    while ((${#PORTS[@]} < $1)); do
        local p
        p=$(free_port)
        [[ " ${PORTS[*]} " == *" $p "* ]] || PORTS+=("$p")
    done
}
# wait_caught_up STANDBY_DIR PRIMARY_DIR FIELD: until the standby's FIELD
# (received_lsn or applied_lsn) reaches the primary's durable LSN
wait_caught_up() {
    local want
    want=$(L status --json --data-dir "$2" | json durable_lsn)
    for _ in $(seq 1 6000); do
        if (($(L status --json --data-dir "$1" | json "$3") >= want)); then return; fi
        sleep 0.05
    done
    echo "standby $1 did not catch up" >&2
    exit 1
}

# pair NAME [standby flags...]: a primary shipping continuously to a standby;
# sets P_DIR S_DIR P_PORT S_PORT P_PID S_PID
pair() {
    local name=$1
    shift
    P_DIR="$TMP/$name-p" S_DIR="$TMP/$name-s"
    distinct_ports 3
    P_PORT=${PORTS[0]} S_PORT=${PORTS[1]}
    local ship=${PORTS[2]}
    L init --data-dir "$P_DIR" >/dev/null
    "$LOGSHIP_BIN" standby --data-dir "$S_DIR" --listen "127.0.0.1:$S_PORT" --ship-listen "127.0.0.1:$ship" \
        --auth-key-file "$TMP/key" "$@" >/dev/null 2>"$TMP/$name-s.log" &
    S_PID=$!
    PIDS+=("$S_PID")
    "$LOGSHIP_BIN" primary --data-dir "$P_DIR" --listen "127.0.0.1:$P_PORT" --ship-to "127.0.0.1:$ship" \
        --ship-continuous --auth-key-file "$TMP/key" >/dev/null 2>"$TMP/$name-p.log" &
    P_PID=$!
    PIDS+=("$P_PID")
    wait_node "$S_PORT" "$S_PID" "$TMP/$name-s.log"
    wait_node "$P_PORT" "$P_PID" "$TMP/$name-p.log"
}
# wait_node PORT PID LOG: until the node answers PING (at most 30 s); exits
# with its log when it does not
wait_node() {
    for _ in $(seq 1 600); do
        if redis-cli -p "$1" ping >/dev/null 2>&1; then return; fi
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    echo "the node on port $1 did not answer; its log:" >&2
    tail -20 "$3" >&2
    exit 1
}

head -c 32 /dev/urandom | base64 >"$TMP/key"

# 1. logship: a caught-up standby, promoted by MODE (run: the `logship
# promote` process; admin: its request on the admin socket, connected
# beforehand). Appends to $TMP/logship-MODE.ms.
logship_promotion() {
    local i=$1 mode=$2
    pair "$mode$i"
    redis-benchmark -p "$P_PORT" -t set -n "$KEYS" -r "$KEYS" -d 100 -P 16 -q >/dev/null
    wait_caught_up "$S_DIR" "$P_DIR" applied_lsn
    kill -9 "$P_PID"
    wait "$P_PID" 2>/dev/null || true
    if [[ $mode == run ]]; then
        first_write "$S_PORT" --run "$LOGSHIP_BIN" promote --data-dir "$S_DIR" >>"$TMP/logship-run.ms"
    else
        first_write "$S_PORT" --admin "$S_DIR" >>"$TMP/logship-admin.ms"
    fi
    log "logship ($mode) run $i: $(tail -1 "$TMP/logship-$mode.ms") ms"
    kill "$S_PID" 2>/dev/null || true
    wait "$S_PID" 2>/dev/null || true
    rm -rf "$P_DIR" "$S_DIR"
}

# 2. Redis: a replica in sync, promoted by MODE (run: the `redis-cli
# replicaof no one` process; admin: REPLICAOF NO ONE on a connection opened
# beforehand). Every step is checked: a baseline that cannot be measured
# stops the script with a message. Appends to $TMP/redis-MODE.ms.
redis_promotion() {
    local i=$1 mode=$2 a b
    distinct_ports 2
    a=${PORTS[0]} b=${PORTS[1]}
    mkdir -p "$TMP/ra$i" "$TMP/rb$i"
    redis-server --port "$a" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
        --dir "$TMP/ra$i" --logfile "$TMP/ra$i.log" --daemonize no &
    ra=$!
    PIDS+=("$ra")
    redis-server --port "$b" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
        --dir "$TMP/rb$i" --logfile "$TMP/rb$i.log" --replicaof 127.0.0.1 "$a" --daemonize no &
    rb=$!
    PIDS+=("$rb")
    for x in "$a:$ra:ra$i" "$b:$rb:rb$i"; do
        IFS=: read -r port pid name <<<"$x"
        for _ in $(seq 1 300); do
            redis-cli -p "$port" ping >/dev/null 2>&1 && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
            echo "redis-server on port $port did not start; its log:" >&2
            tail -20 "$TMP/$name.log" >&2
            exit 1
        fi
    done
    redis-benchmark -p "$a" -t set -n "$KEYS" -r "$KEYS" -d 100 -P 16 -q >/dev/null
    local synced=""
    for _ in $(seq 1 600); do
        m=$(redis-cli -p "$a" info replication | tr -d '\r' | awk -F: '/^master_repl_offset/ {print $2}')
        r=$(redis-cli -p "$b" info replication | tr -d '\r' | awk -F: '/^slave_repl_offset/ {print $2}')
        up=$(redis-cli -p "$b" info replication | tr -d '\r' | awk -F: '/^master_link_status/ {print $2}')
        if [[ $up == up && -n "$m" && "$m" == "$r" && "$m" -gt 0 ]]; then
            synced=yes
            break
        fi
        sleep 0.05
    done
    if [[ -z $synced ]]; then
        echo "the Redis replica on port $b did not sync with port $a (master offset ${m:-?}, replica ${r:-?}, link ${up:-?})" >&2
        tail -20 "$TMP/rb$i.log" >&2
        exit 1
    fi
    kill -9 "$ra"
    wait "$ra" 2>/dev/null || true
    if [[ $mode == run ]]; then
        first_write "$b" --run redis-cli -p "$b" replicaof no one >>"$TMP/redis-run.ms"
    else
        first_write "$b" --resp REPLICAOF NO ONE >>"$TMP/redis-admin.ms"
    fi
    log "redis ($mode) run $i: $(tail -1 "$TMP/redis-$mode.ms") ms"
    kill -9 "$rb"
    wait "$rb" 2>/dev/null || true
    rm -rf "$TMP/ra$i" "$TMP/rb$i"
}

: >"$TMP/logship-run.ms" >"$TMP/logship-admin.ms" >"$TMP/redis-run.ms" >"$TMP/redis-admin.ms"
# Interleaved, so that a slow spell of the machine hits both sides alike.
for i in $(seq 1 "$RUNS"); do
    logship_promotion "$i" run
    redis_promotion "$i" run
    logship_promotion "$i" admin
    redis_promotion "$i" admin
done

# 3. PostgreSQL, when installed: pg_ctl promote to the first write.
PG_ROW="| PostgreSQL \`pg_ctl promote\` → first write | not installed | | |"
if command -v pg_ctl >/dev/null && command -v initdb >/dev/null && [[ $(id -u) != 0 ]]; then
    PG_ROW="| PostgreSQL | installed, but this script does not drive it yet | | |"
fi

# 4. logship: 256 MiB received but not applied (BACKLOG_BYTES=0 skips it).
BACKLOG_ROW=""
if ((BACKLOG_BYTES > 0)); then
    log "backlog row: writing $BACKLOG_BYTES bytes held back by --apply-delay"
    pair backlog --apply-delay 1h --checkpoint-interval 1h
    n=$((BACKLOG_BYTES / 1100))
    redis-benchmark -p "$P_PORT" -t set -n "$n" -r 1000000 -d 1000 -P 32 -c 20 -q >/dev/null
    wait_caught_up "$S_DIR" "$P_DIR" received_lsn
    kill -9 "$P_PID"
    wait "$P_PID" 2>/dev/null || true
    applied=$(L status --json --data-dir "$S_DIR" | json applied_lsn)
    received=$(L status --json --data-dir "$S_DIR" | json received_lsn)
    t0=$(now_ns)
    L promote --data-dir "$S_DIR" --json >"$TMP/promote.json" 2>/dev/null
    t1=$(now_ns)
    total_ms=$(ms_between "$t0" "$t1")
    apply_ms=$(json apply_ms <"$TMP/promote.json")
    backlog_mib=$(((received - applied) >> 20))
    BACKLOG_ROW="| promote with $backlog_mib MiB received, not applied | $total_ms ms total | applying it: $apply_ms ms | $(ratio "$total_ms" "$apply_ms")× the apply time (target ≤ 1.2×) |"
fi

row() { # row WHAT MODE: a table row, logship against Redis
    local l r
    l=$(median <"$TMP/logship-$2.ms")
    r=$(median <"$TMP/redis-$2.ms")
    echo "| $1 | $(stats <"$TMP/logship-$2.ms") | $(stats <"$TMP/redis-$2.ms") | $(ratio "$l" "$r")× |"
}
echo
echo "## Promotion → first write, $RUNS runs each, $KEYS keys ($(nproc) cores; ms, min / median / max)"
echo
echo "| promotion of a caught-up standby → first SET accepted on a connection opened before | logship | Redis (same run) | ratio (medians) |"
echo "| --- | --- | --- | --- |"
row "whole command: \`logship promote\` / \`redis-cli replicaof no one\` process" run
row "server side: admin-socket \`promote\` / \`REPLICAOF NO ONE\`, connected before" admin
echo "$PG_ROW"
[[ -z $BACKLOG_ROW ]] || echo "$BACKLOG_ROW"
