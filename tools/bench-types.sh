#!/usr/bin/env bash
# Memory and replay of every data type, against redis-server in the same run.
#
# For each data set (tools/gen-load.py: 1M hashes of 10 fields; 100k lists,
# sets and sorted sets of 100; one sorted set of 10M members), starts a fresh
# redis-server and a fresh logship primary, loads both through
# `redis-cli --pipe`, and prints their RSS. Then the writer's pause at a
# checkpoint while the 10M-member sorted set is under writes, and the
# recovery replay rate of a mixed-type log after kill -9.
#
# Usage: tools/bench-types.sh
# Environment:
#   SCALE=1.0        multiplies every data set's size
#   SETS="hashes lists sets zsets bigzset"   data sets to load
#   LOGSHIP_BIN=...  use this binary instead of building target/release/logship
set -euo pipefail

SCALE=${SCALE:-1.0}
SETS=${SETS:-"hashes lists sets zsets bigzset"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/lib.sh
source "$(dirname "$0")/lib.sh"
need redis-server redis-server
need redis-cli redis-tools
need redis-benchmark redis-tools
if [[ -z "${LOGSHIP_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOGSHIP_BIN="$ROOT/target/release/logship"
fi

TMP=$(mktemp -d /tmp/bench-types.XXXXXX)
LOGSHIP_PID=""
REDIS_PORT=""
cleanup() {
    if [[ -n "$LOGSHIP_PID" ]]; then kill -9 "$LOGSHIP_PID" 2>/dev/null || true; fi
    if [[ -n "$REDIS_PORT" ]]; then redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

start_redis() {
    REDIS_PORT=$(free_port)
    rm -rf "$TMP/redis" && mkdir -p "$TMP/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$TMP/redis" --daemonize yes \
        --pidfile "$TMP/redis/redis.pid" --logfile "$TMP/redis/redis.log"
    wait_ping "$REDIS_PORT"
    REDIS_PID=$(cat "$TMP/redis/redis.pid")
}

stop_redis() {
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    REDIS_PORT=""
}

# start_logship [extra flags...]: a fresh data directory.
start_logship() {
    rm -rf "$TMP/logship"
    "$LOGSHIP_BIN" init --data-dir "$TMP/logship" >/dev/null
    restart_logship "$@"
}

restart_logship() {
    LOGSHIP_PORT=$(free_port)
    "$LOGSHIP_BIN" primary --data-dir "$TMP/logship" --listen "127.0.0.1:$LOGSHIP_PORT" \
        "$@" >>"$TMP/logship.out" 2>>"$TMP/logship.log" &
    LOGSHIP_PID=$!
    wait_ping "$LOGSHIP_PORT"
}

kill_logship() {
    kill -9 "$LOGSHIP_PID"
    wait "$LOGSHIP_PID" 2>/dev/null || true
    LOGSHIP_PID=""
}

# load PORT KIND: pipes the data set into the server; prints the seconds taken.
load() {
    local t0 t1
    t0=$(date +%s.%N)
    python3 "$ROOT/tools/gen-load.py" "$2" "$SCALE" | redis-cli -p "$1" --pipe >"$TMP/pipe.out" 2>&1
    t1=$(date +%s.%N)
    if ! grep -q "errors: 0" "$TMP/pipe.out"; then
        echo "loading $2 into port $1 failed: $(tail -3 "$TMP/pipe.out")" >&2
    fi
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

echo "# memory after loading each data set (SCALE=$SCALE); $(nproc) cores; redis $(redis-server --version | awk '{print $3}' | sed 's/v=//')"
echo
printf '| %-8s | %9s | %9s | %9s | %9s | %6s | %8s | %8s |\n' "data set" "r keys" "l keys" "r MiB" "l MiB" ratio "r load s" "l load s"
printf '|%s|\n' "----------|-----------|-----------|-----------|-----------|--------|----------|----------"
for kind in $SETS; do
    start_redis
    start_logship --checkpoint-wal-bytes 1000GiB --checkpoint-interval 1000d
    rs=$(load "$REDIS_PORT" "$kind")
    ls=$(load "$LOGSHIP_PORT" "$kind")
    sleep 1
    rk=$(redis-cli -p "$REDIS_PORT" dbsize)
    lk=$(redis-cli -p "$LOGSHIP_PORT" dbsize)
    rm=$(rss_mib "$REDIS_PID")
    lm=$(rss_mib "$LOGSHIP_PID")
    printf '| %-8s | %9s | %9s | %9s | %9s | %6s | %8s | %8s |\n' "$kind" "$rk" "$lk" "$rm" "$lm" \
        "$(awk -v a="$lm" -v b="$rm" 'BEGIN { printf "%.2f", a / b }')" "$rs" "$ls"
    stop_redis
    if [[ "$kind" == bigzset ]]; then
        # Checkpoints every second while ZADDs change the big sorted set:
        # the writers' pause is the picture; a write to the shared set then
        # copies only the path it changes.
        kill -TERM "$LOGSHIP_PID"
        wait "$LOGSHIP_PID" 2>/dev/null || true
        : >"$TMP/logship.log"
        restart_logship --checkpoint-interval 1s --checkpoint-wal-bytes 1000GiB
        n=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 10000000 * s }')
        redis-benchmark -p "$LOGSHIP_PORT" -c 10 -n 100000 -r "$n" --csv \
            ZADD big __rand_int__ member:__rand_int__ 2>/dev/null | tail -1 >"$TMP/zadd.csv"
        pauses=$(grep -a "checkpoint complete" "$TMP/logship.log" | sed -E 's/.*pause_us=([0-9]+).*/\1/' | sort -n)
        echo
        echo "# checkpoints while ZADD changes the ${n}-member sorted set (redis-benchmark -c 10)"
        echo "checkpoints:          $(wc -w <<<"$pauses")"
        echo "writer pause max us:  $(tail -1 <<<"$pauses")"
        echo "ZADD rps, p50, p99 ms: $(awk -F'","' '{gsub(/"/, ""); split($0, f, ","); print f[2], f[5], f[7]}' "$TMP/zadd.csv")"
        echo
    fi
    kill_logship
done

# Recovery of a mixed-type log: no checkpoint, so the restart replays it all.
start_logship --checkpoint-wal-bytes 1000GiB --checkpoint-interval 1000d
load "$LOGSHIP_PORT" mixed >/dev/null
digest=$(redis-cli -p "$LOGSHIP_PORT" debug digest)
kill_logship
: >"$TMP/logship.log"
restart_logship
line=$(grep -a "recovery complete" "$TMP/logship.log" | tail -1)
echo
echo "# recovery after kill -9 of a mixed-type log (SET, HSET, LPUSH, SADD, ZADD, INCR)"
echo "records replayed:  $(sed -E 's/.*records_replayed=([0-9]+).*/\1/' <<<"$line")"
echo "replay time ms:    $(sed -E 's/.*replay_ms=([0-9]+).*/\1/' <<<"$line")"
echo "records/s:         $(sed -E 's/.*replay_records_per_second=([0-9]+).*/\1/' <<<"$line")"
if [[ "$(redis-cli -p "$LOGSHIP_PORT" debug digest)" == "$digest" ]]; then
    echo "digest:            equal before and after"
else
    echo "digest:            DIFFERS after recovery"
fi
kill_logship
