#!/usr/bin/env bash
# Promotion benchmark: from the start of `logship promote` to the first write
# accepted on the new primary, for a caught-up standby, RUNS times (min, median,
# max); next to Redis's `REPLICAOF NO ONE` + SET measured the same way in the
# same run (and PostgreSQL's `pg_ctl promote` when it is installed); then a
# standby holding BACKLOG_BYTES received but not applied (--apply-delay): the
# promotion's total time against the time it spent applying. Prints markdown.
#
# Usage: tools/bench-promote.sh
# Environment:
#   RUNS=10                   promotions per row
#   KEYS=20000                keys written before each promotion (100-byte values)
#   BACKLOG_BYTES=268435456   the received-but-not-applied log of the last row
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
# first_write PORT: SET until one is accepted (at most 30 s)
first_write() {
    for _ in $(seq 1 3000); do
        if [[ "$(redis-cli -p "$1" set promoted yes 2>/dev/null)" == "OK" ]]; then return; fi
        sleep 0.01
    done
    echo "no write accepted on port $1" >&2
    exit 1
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
    P_PORT=$(free_port) S_PORT=$(free_port)
    local ship
    ship=$(free_port)
    L init --data-dir "$P_DIR" >/dev/null
    "$LOGSHIP_BIN" standby --data-dir "$S_DIR" --listen "127.0.0.1:$S_PORT" --ship-listen "127.0.0.1:$ship" \
        --auth-key-file "$TMP/key" "$@" >/dev/null 2>"$TMP/$name-s.log" &
    S_PID=$!
    PIDS+=("$S_PID")
    "$LOGSHIP_BIN" primary --data-dir "$P_DIR" --listen "127.0.0.1:$P_PORT" --ship-to "127.0.0.1:$ship" \
        --ship-continuous --auth-key-file "$TMP/key" >/dev/null 2>"$TMP/$name-p.log" &
    P_PID=$!
    PIDS+=("$P_PID")
    wait_ping "$S_PORT"
    wait_ping "$P_PORT"
}

head -c 32 /dev/urandom | base64 >"$TMP/key"

# 1. logship: a caught-up standby.
: >"$TMP/logship.ms"
: >"$TMP/logship-internal.ms"
for i in $(seq 1 "$RUNS"); do
    pair "r$i"
    redis-benchmark -p "$P_PORT" -t set -n "$KEYS" -r "$KEYS" -d 100 -P 16 -q >/dev/null
    wait_caught_up "$S_DIR" "$P_DIR" applied_lsn
    kill -9 "$P_PID"
    wait "$P_PID" 2>/dev/null || true
    t0=$(now_ns)
    L promote --data-dir "$S_DIR" --json >"$TMP/promote.json" 2>/dev/null
    first_write "$S_PORT"
    t1=$(now_ns)
    ms_between "$t0" "$t1" >>"$TMP/logship.ms"
    echo >>"$TMP/logship.ms"
    json took_ms <"$TMP/promote.json" >>"$TMP/logship-internal.ms"
    log "logship run $i: $(tail -1 "$TMP/logship.ms") ms"
    kill "$S_PID" 2>/dev/null || true
    wait "$S_PID" 2>/dev/null || true
    rm -rf "$P_DIR" "$S_DIR"
done

# 2. Redis: REPLICAOF NO ONE on a replica in sync, then the first SET.
: >"$TMP/redis.ms"
for i in $(seq 1 "$RUNS"); do
    a=$(free_port) b=$(free_port)
    mkdir -p "$TMP/ra$i" "$TMP/rb$i"
    redis-server --port "$a" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
        --dir "$TMP/ra$i" --daemonize no >/dev/null &
    ra=$!
    PIDS+=("$ra")
    redis-server --port "$b" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
        --dir "$TMP/rb$i" --replicaof 127.0.0.1 "$a" --daemonize no >/dev/null &
    rb=$!
    PIDS+=("$rb")
    wait_ping "$a"
    wait_ping "$b"
    redis-benchmark -p "$a" -t set -n "$KEYS" -r "$KEYS" -d 100 -P 16 -q >/dev/null
    for _ in $(seq 1 600); do
        m=$(redis-cli -p "$a" info replication | awk -F: '/^master_repl_offset/ {print $2+0}')
        r=$(redis-cli -p "$b" info replication | awk -F: '/^slave_repl_offset/ {print $2+0}')
        [[ -n "$r" && "$m" == "$r" ]] && break
        sleep 0.05
    done
    kill -9 "$ra"
    wait "$ra" 2>/dev/null || true
    t0=$(now_ns)
    redis-cli -p "$b" replicaof no one >/dev/null
    first_write "$b"
    t1=$(now_ns)
    ms_between "$t0" "$t1" >>"$TMP/redis.ms"
    echo >>"$TMP/redis.ms"
    log "redis run $i: $(tail -1 "$TMP/redis.ms") ms"
    kill -9 "$rb"
    wait "$rb" 2>/dev/null || true
    rm -rf "$TMP/ra$i" "$TMP/rb$i"
done

# 3. PostgreSQL, when installed: pg_ctl promote to the first write.
PG_ROW="| PostgreSQL \`pg_ctl promote\` → first write | not installed | | |"
if command -v pg_ctl >/dev/null && command -v initdb >/dev/null && [[ $(id -u) != 0 ]]; then
    PG_ROW="| PostgreSQL | installed, but this script does not drive it yet | | |"
fi

# 4. logship: 256 MiB received but not applied.
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
first_write "$S_PORT"
t1=$(now_ns)
total_ms=$(ms_between "$t0" "$t1")
apply_ms=$(json apply_ms <"$TMP/promote.json")
backlog_mib=$(((received - applied) >> 20))

l_stats=$(stats <"$TMP/logship.ms")
l_med=$(median <"$TMP/logship.ms")
r_stats=$(stats <"$TMP/redis.ms")
r_med=$(median <"$TMP/redis.ms")
i_stats=$(stats <"$TMP/logship-internal.ms")
echo
echo "## Promotion, $RUNS runs each, $KEYS keys ($(nproc) cores; ms, min / median / max)"
echo
echo "| measurement | result | baseline (same run) | ratio |"
echo "| --- | --- | --- | --- |"
echo "| logship \`promote\` → first write (caught up) | $l_stats | Redis \`REPLICAOF NO ONE\` → first write: $r_stats | $(ratio "$l_med" "$r_med")× Redis (target median ≤ 20 ms) |"
echo "| of which inside promote (its \`took_ms\`) | $i_stats | | |"
echo "$PG_ROW"
echo "| promote with $backlog_mib MiB received, not applied | $total_ms ms total | applying it: $apply_ms ms | $(ratio "$total_ms" "$apply_ms")× the apply time (target ≤ 1.2×) |"
