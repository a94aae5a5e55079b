#!/usr/bin/env bash
# Benchmarks `logship primary --fsync always` against `redis-server --appendfsync
# always` on loopback with the same redis-benchmark runs, then compares memory
# with 1M keys loaded and measures logship's recovery replay rate.
#
# Usage: tools/bench-vs-redis.sh
# Environment:
#   N=200000            requests per throughput run
#   TESTS=set,get,…     redis-benchmark tests (default: every one of the data types'
#                       tests: set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,
#                       zadd,zpopmin,lrange_100,lrange_300,lrange_600,mset)
#   LOAD_N=2000000      SETs for the memory comparison (-r 1000000 keys)
#   RUNTIMES="multi-thread current-thread"   logship runtimes to measure (the first
#                       also runs the memory and recovery parts)
#   LOGSHIP_BIN=...     use this binary instead of building target/release/logship
set -euo pipefail

N=${N:-200000}
TESTS=${TESTS:-set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_300,lrange_600,mset}
LOAD_N=${LOAD_N:-2000000}
RUNTIMES=${RUNTIMES:-"multi-thread current-thread"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    echo "installing redis-server and redis-tools" >&2
    apt-get update
    apt-get install -y redis-server redis-tools
fi
if [[ -z "${LOGSHIP_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOGSHIP_BIN="$ROOT/target/release/logship"
fi

TMP=$(mktemp -d /tmp/bench-vs-redis.XXXXXX)
LOGSHIP_PID=""
REDIS_PORT=""
cleanup() {
    if [[ -n "$LOGSHIP_PID" ]]; then kill -9 "$LOGSHIP_PID" 2>/dev/null || true; fi
    if [[ -n "$REDIS_PORT" ]]; then redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck source=tools/lib.sh
source "$(dirname "$0")/lib.sh"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_redis() {
    REDIS_PORT=$(free_port)
    mkdir -p "$TMP/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes \
        --appendfsync always --dir "$TMP/redis" --daemonize yes \
        --pidfile "$TMP/redis/redis.pid" --logfile "$TMP/redis/redis.log"
    wait_ping "$REDIS_PORT"
    REDIS_PID=$(cat "$TMP/redis/redis.pid")
}

# start_logship RUNTIME [extra flags...]
start_logship() {
    local runtime=$1
    shift
    LOGSHIP_PORT=$(free_port)
    "$LOGSHIP_BIN" primary --data-dir "$TMP/logship" --listen "127.0.0.1:$LOGSHIP_PORT" \
        --fsync always --runtime "$runtime" "$@" >>"$TMP/logship.out" 2>>"$TMP/logship.log" &
    LOGSHIP_PID=$!
    wait_ping "$LOGSHIP_PORT"
}

stop_logship_kill9() {
    kill -9 "$LOGSHIP_PID"
    wait "$LOGSHIP_PID" 2>/dev/null || true
    LOGSHIP_PID=""
}

# bench PORT PIPELINE -> lines "TEST rps p50 p99" (the test's name without
# spaces: "LPUSH_(needed_to_benchmark_LRANGE)", "LRANGE_100_(first_100_elements)")
bench() {
    redis-benchmark -h 127.0.0.1 -p "$1" -t "$TESTS" -c 50 -d 100 -r 100000 -n "$N" -P "$2" --csv 2>/dev/null |
        awk -F'","' 'NR > 1 { gsub(/"/, ""); split($0, f, ","); gsub(/ /, "_", f[1]); print f[1], f[2], f[5], f[7] }'
}

"$LOGSHIP_BIN" init --data-dir "$TMP/logship" >/dev/null
start_redis

echo "# logship vs redis, fsync always, redis-benchmark -c 50 -d 100 -r 100000 -n $N"
echo "# $(nproc) cores; redis $(redis-server --version | awk '{print $3}' | sed 's/v=//')"
echo
row() { printf '| %-36s | %-2s | %-14s | %12s | %12s | %6s | %8s | %8s | %8s | %8s |\n' "$@"; }
row test P "logship runtime" "redis rps" "logship rps" ratio "r p50 ms" "l p50 ms" "r p99 ms" "l p99 ms"
printf '|%s|\n' "--------------------------------------|----|----------------|--------------|--------------|--------|----------|----------|----------|----------"
for runtime in $RUNTIMES; do
    start_logship "$runtime"
    for P in 1 16; do
        redis-cli -p "$REDIS_PORT" flushall >/dev/null
        redis-cli -p "$LOGSHIP_PORT" flushall >/dev/null
        r=$(bench "$REDIS_PORT" "$P")
        l=$(bench "$LOGSHIP_PORT" "$P")
        for t in $(awk '{print $1}' <<<"$r"); do
            read -r _ rr rp50 rp99 <<<"$(grep -F "$t " <<<"$r" | head -1)"
            read -r _ lr lp50 lp99 <<<"$(grep -F "$t " <<<"$l" | head -1)"
            ratio=$(awk -v a="${lr:-0}" -v b="$rr" 'BEGIN { printf "%.2f", a / b }')
            row "$t" "$P" "$runtime" "$rr" "${lr:-failed}" "$ratio" "$rp50" "${lp50:-}" "$rp99" "${lp99:-}"
        done
    done
    stop_logship_kill9
done

# Memory with ~1M keys: no checkpoints during the load, so the restart below
# replays the whole WAL.
runtime=${RUNTIMES%% *}
start_logship "$runtime" --checkpoint-wal-bytes 1000GiB --checkpoint-interval 1000d
redis-cli -p "$REDIS_PORT" flushall >/dev/null
redis-cli -p "$LOGSHIP_PORT" flushall >/dev/null
load() {
    redis-benchmark -h 127.0.0.1 -p "$1" -t set -r 1000000 -n "$LOAD_N" -d 100 -P 16 -c 50 -q 2>/dev/null |
        tr '\r' '\n' | grep -a 'requests per second' | tail -1
}
echo
echo "# memory: redis-benchmark -t set -r 1000000 -n $LOAD_N -d 100 -P 16 -c 50"
echo "redis:   $(load "$REDIS_PORT")"
echo "logship: $(load "$LOGSHIP_PORT")"
rk=$(redis-cli -p "$REDIS_PORT" dbsize)
lk=$(redis-cli -p "$LOGSHIP_PORT" dbsize)
rr=$(rss_kib "$REDIS_PID")
lr=$(rss_kib "$LOGSHIP_PID")
echo
printf '| %-8s | %9s | %10s |\n' server keys "RSS MiB"
printf '|%s|\n' "----------|-----------|------------"
printf '| %-8s | %9s | %10s |\n' redis "$rk" "$((rr / 1024))"
printf '| %-8s | %9s | %10s |\n' logship "$lk" "$((lr / 1024))"
echo "RSS ratio logship/redis: $(awk -v a="$lr" -v b="$rr" 'BEGIN { printf "%.2f", a / b }')"

# Recovery: kill -9, restart, read the replay rate the primary logs.
stop_logship_kill9
: >"$TMP/logship.log"
start=$(date +%s.%N)
start_logship "$runtime"
ready=$(date +%s.%N)
line=$(grep -a "recovery complete" "$TMP/logship.log" | tail -1)
echo
echo "# recovery after kill -9 (whole WAL, no snapshot)"
echo "records replayed:  $(sed -E 's/.*records_replayed=([0-9]+).*/\1/' <<<"$line")"
echo "replay time ms:    $(sed -E 's/.*replay_ms=([0-9]+).*/\1/' <<<"$line")"
echo "records/s:         $(sed -E 's/.*replay_records_per_second=([0-9]+).*/\1/' <<<"$line")"
echo "start to serving:  $(awk -v a="$start" -v b="$ready" 'BEGIN { printf "%.2f s", b - a }')"
echo "keys after replay: $(redis-cli -p "$LOGSHIP_PORT" dbsize)"

# Checkpoint pause: SIGTERM takes a checkpoint of everything and logs how long
# writers were held up taking the picture.
kill -TERM "$LOGSHIP_PID"
wait "$LOGSHIP_PID" 2>/dev/null || true
LOGSHIP_PID=""
line=$(grep -a "checkpoint complete" "$TMP/logship.log" | tail -1)
echo
echo "# checkpoint at shutdown"
echo "items:             $(sed -E 's/.*items=([0-9]+).*/\1/' <<<"$line")"
echo "writer pause us:   $(sed -E 's/.*pause_us=([0-9]+).*/\1/' <<<"$line")"
echo "snapshot took ms:  $(sed -E 's/.*took_ms=([0-9]+).*/\1/' <<<"$line")"
