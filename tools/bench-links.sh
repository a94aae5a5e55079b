#!/usr/bin/env bash
# Link benchmark: shipping through `logship fault-proxy` on bad links.
#
#  1. Convergence under cuts: LOG_MB of log that does not compress (SETs of
#     random 128-byte values) shipped continuously through a proxy that cuts
#     the connection after a random number of bytes. One row per regime: a
#     clean link (the baseline, measured in the same run), cuts every 1-3 MB,
#     20-400 KB and 5-50 KB. Each row: reconnects, bytes the proxy carried to
#     the standby, bytes re-sent (carried beyond the clean row's), and seconds
#     from the last write to equal keyspaces (applied LSN = durable LSN, equal
#     DEBUG DIGEST). Redis 7 replication (a replica pulling from its master
#     through the same proxy, the stream toward the replica cut) runs the
#     clean link and the 20-400 KB regime with the same log.
#  2. A far, slow link: 50 ms each way and 10 Mbit/s in the proxy, a steady
#     FAR_RATE bytes/s of such values for FAR_SECONDS; the primary's lag to
#     the standby, sampled four times a second.
#  1c. A backlog through the 20-400 KB cuts: `logship ship --once` of a stopped
#     primary's log to an empty standby, against a Redis replica attached after
#     the writes (a full resync).
#  3. --ship-max-rate: a CAP below the proxy's 10 Mbit/s throttle; the rate
#     at which a backlog reaches the standby, against the cap.
#
# Usage: tools/bench-links.sh
# Environment:
#   LOG_MB=10            log shipped per convergence row
#   REGIMES="clean 1MB-3MB 20KB-400KB 5KB-50KB"
#   CONVERGE_LIMIT=300   seconds a row may take before it is reported as not converged
#   REDIS_REGIMES="clean 20KB-400KB"  REDIS_LIMIT=120
#   FAR_RATE=500000  FAR_SECONDS=20
#   CAP=512KiB  CAP_MB=5
#   LOGSHIP_BIN=...      use this binary instead of building target/release/logship
set -euo pipefail

LOG_MB=${LOG_MB:-10}
REGIMES=${REGIMES:-"clean 1MB-3MB 20KB-400KB 5KB-50KB"}
CONVERGE_LIMIT=${CONVERGE_LIMIT:-300}
REDIS_REGIMES=${REDIS_REGIMES:-"clean 20KB-400KB"}
REDIS_LIMIT=${REDIS_LIMIT:-120}
FAR_RATE=${FAR_RATE:-500000}
FAR_SECONDS=${FAR_SECONDS:-20}
CAP=${CAP:-512KiB}
CAP_MB=${CAP_MB:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEP_TIMEOUT=900
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

need redis-cli redis-tools
need redis-server redis-server
need python3 python3
if [[ -z "${LOGSHIP_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOGSHIP_BIN="$ROOT/target/release/logship"
fi
L() { timeout "$STEP_TIMEOUT" "$LOGSHIP_BIN" "$@"; }

bench_start bench-links
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
head -c 32 /dev/urandom >"$TMP/key"

addr_after() { sed -E "s/.*$1 ([^ )]+).*/\\1/" <<<"$2"; }
port_of() { echo "${1##*:}"; }
info() { redis-cli -p "$1" info replication | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }
stop() { # stop PID: SIGTERM and wait
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# writer PORT BYTES_PER_SEC SECONDS | writer PORT 0 TOTAL_BYTES: SETs of random
# 128-byte values over one pipelined connection; paced, or flat out.
writer() {
    python3 - "$@" <<'EOF'
import os, socket, sys, time
port, rate, amount = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
VALUE, BATCH = 128, 100
def batch(i):
    out = []
    for j in range(i, i + BATCH):
        k = b"k%d" % j
        v = os.urandom(VALUE)
        out.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
    s.sendall(b"".join(out))
    want, got = 5 * BATCH, b""
    while len(got) < want:
        r = s.recv(want - len(got))
        if not r:
            sys.exit("the primary closed the connection")
        got += r
    if got != b"+OK\r\n" * BATCH:
        sys.exit("unexpected reply: %r" % got[:80])
i, start = 0, time.time()
if rate == 0:
    while i * VALUE < amount:
        batch(i)
        i += BATCH
else:
    while time.time() - start < amount:
        batch(i)
        i += BATCH
        due = start + i * VALUE / rate
        time.sleep(max(0.0, due - time.time()))
EOF
}

# pair NAME PROXY_FAULTS PROXY_FLAGS PRIMARY_FLAGS: a standby, a fault proxy to
# it and a continuous primary shipping through the proxy.
pair() {
    local name=$1 faults=$2 pflags=$3 primary_flags=$4
    L init --data-dir "$TMP/$name-p" --segment-bytes 16MiB >/dev/null
    start_node "$name-s" standby --data-dir "$TMP/$name-s" --ship-listen 127.0.0.1:0 \
        --listen 127.0.0.1:0 --auth-key-file "$TMP/key"
    S_PID=$NODE_PID
    S_PORT=$(port_of "$(addr_after "listening on" "$NODE_LINE")")
    local ship_to
    ship_to=$(addr_after "shipments on" "$NODE_LINE")
    # shellcheck disable=SC2086
    start_node "$name-x" fault-proxy --listen 127.0.0.1:0 --to "$ship_to" --faults "$faults" --seed 7 $pflags
    X_PID=$NODE_PID
    local proxy
    proxy=$(addr_after "listening on" "$NODE_LINE")
    # shellcheck disable=SC2086
    start_node "$name-p" primary --data-dir "$TMP/$name-p" --listen 127.0.0.1:0 \
        --ship-to "$proxy" --auth-key-file "$TMP/key" --ship-continuous $primary_flags
    P_PID=$NODE_PID
    P_PORT=$(port_of "$(addr_after "listening on" "$NODE_LINE")")
}
# unpair NAME: stops the three; sets PROXY_CONNECTIONS and PROXY_BYTES_DOWN.
unpair() {
    stop "$P_PID"
    stop "$X_PID"
    local summary
    summary=$(grep 'stopped:' "$TMP/$1-x.out" || true)
    PROXY_CONNECTIONS=$(sed -E 's/.*connections=([0-9]+).*/\1/' <<<"$summary")
    PROXY_BYTES_DOWN=$(sed -E 's/.*bytes_down=([0-9]+).*/\1/' <<<"$summary")
    stop "$S_PID"
    rm -rf "$TMP/$1-p" "$TMP/$1-s"
}

# cut_flags REGIME: the proxy's faults and flags for a regime.
cut_flags() {
    case $1 in
    clean) FAULTS=none FLAGS="" ;;
    *-*)
        local lo=${1%-*} hi=${1#*-}
        lo=${lo/KB/KiB} hi=${hi/KB/KiB}
        lo=${lo/MB/MiB} hi=${hi/MB/MiB}
        FAULTS=cut FLAGS="--cut-min $lo --cut-within $hi"
        ;;
    esac
}

# ---- 1. Convergence under cuts ----------------------------------------------
declare -A ROW
CLEAN_DOWN=0
CLEAN_SECS=0
for regime in $REGIMES; do
    cut_flags "$regime"
    log "cuts: $regime"
    pair "cut-$regime" "$FAULTS" "$FLAGS" ""
    writer "$P_PORT" 0 $((LOG_MB * 1000000))
    DURABLE=$(L status --json --data-dir "$TMP/cut-$regime-p" | python3 -c 'import json,sys; print(json.load(sys.stdin)["durable_lsn"])')
    t0=$(date +%s.%N)
    converged=no
    while :; do
        applied=$(info "$S_PORT" applied_lsn)
        if [[ "${applied:-0}" -ge "$DURABLE" ]]; then
            converged=yes
            break
        fi
        if (($(calc "%d" "$(date +%s.%N) - $t0") >= CONVERGE_LIMIT)); then break; fi
        sleep 0.05
    done
    secs=$(calc "%.1f" "$(date +%s.%N) - $t0")
    if [[ $converged == yes ]]; then
        d1=$(redis-cli -p "$P_PORT" debug digest)
        d2=$(redis-cli -p "$S_PORT" debug digest)
        if [[ "$d1" != "$d2" ]]; then
            echo "digests differ in regime $regime: $d1 vs $d2" >&2
            exit 1
        fi
    else
        secs="> $CONVERGE_LIMIT (applied ${applied:-0} of $DURABLE)"
    fi
    unpair "cut-$regime"
    if [[ $regime == clean ]]; then
        CLEAN_DOWN=$PROXY_BYTES_DOWN
        CLEAN_SECS=$secs
    fi
    waste=$((PROXY_BYTES_DOWN - CLEAN_DOWN))
    ROW[$regime]="| $regime | $DURABLE | $((PROXY_CONNECTIONS - 1)) | $PROXY_BYTES_DOWN | $waste ($(calc "%.1f" "100 * $waste / $DURABLE")% of the log) | $secs |"
done

# ---- 1b. Redis replication through the same cuts ----------------------------
declare -A REDIS_ROW
for regime in $REDIS_REGIMES; do
    cut_flags "$regime"
    log "redis replication, cuts: $regime"
    mp=$(free_port)
    redis-server --port "$mp" --save "" --appendonly no --dir "$TMP" --daemonize yes \
        --logfile "$TMP/redis-m-$regime.log" >/dev/null
    REDIS_PORTS+=("$mp")
    wait_ping "$mp"
    # shellcheck disable=SC2086
    start_node "redis-x-$regime" fault-proxy --listen 127.0.0.1:0 --to "127.0.0.1:$mp" \
        --faults "$FAULTS" --seed 7 --cut-toward-client $FLAGS
    X_PID=$NODE_PID
    xport=$(port_of "$(addr_after "listening on" "$NODE_LINE")")
    rp=$(free_port)
    redis-server --port "$rp" --save "" --appendonly no --dir "$TMP" --daemonize yes \
        --logfile "$TMP/redis-r-$regime.log" --replicaof 127.0.0.1 "$xport" >/dev/null
    REDIS_PORTS+=("$rp")
    wait_ping "$rp"
    for _ in $(seq 1 200); do
        [[ $(info "$rp" master_link_status) == up ]] && break
        sleep 0.05
    done
    writer "$mp" 0 $((LOG_MB * 1000000))
    want=$(info "$mp" master_repl_offset)
    t0=$(date +%s.%N)
    converged=no
    while :; do
        got=$(info "$rp" slave_repl_offset)
        if [[ "${got:-0}" -ge "$want" ]]; then
            converged=yes
            break
        fi
        if (($(calc "%d" "$(date +%s.%N) - $t0") >= REDIS_LIMIT)); then break; fi
        sleep 0.05
    done
    secs=$(calc "%.1f" "$(date +%s.%N) - $t0")
    keys=$(redis-cli -p "$rp" dbsize)
    if [[ $converged == yes ]]; then
        if [[ $(redis-cli -p "$mp" debug digest) != $(redis-cli -p "$rp" debug digest) ]]; then
            echo "redis digests differ in regime $regime" >&2
            exit 1
        fi
    else
        secs="> $REDIS_LIMIT (replica at offset ${got:-0} of $want, $keys keys)"
    fi
    stop "$X_PID"
    summary=$(grep 'stopped:' "$TMP/redis-x-$regime.out" || true)
    conns=$(sed -E 's/.*connections=([0-9]+).*/\1/' <<<"$summary")
    total=$(sed -E 's/.* bytes=([0-9]+).*/\1/' <<<"$summary")
    down=$(sed -E 's/.*bytes_down=([0-9]+).*/\1/' <<<"$summary")
    REDIS_ROW[$regime]="| Redis $regime | $want (replication offset) | $((conns - 1)) | $((total - down)) | | $secs |"
    redis-cli -p "$rp" shutdown nosave >/dev/null 2>&1 || true
    redis-cli -p "$mp" shutdown nosave >/dev/null 2>&1 || true
done

# ---- 1c. A backlog through the cuts: the standby (replica) attaches after the writes
BACKLOG_REGIME=${BACKLOG_REGIME:-20KB-400KB}
cut_flags "$BACKLOG_REGIME"
log "backlog through cuts $BACKLOG_REGIME: logship ship --once of a stopped primary's log"
L init --data-dir "$TMP/bl-p" --segment-bytes 16MiB >/dev/null
start_node bl-p primary --data-dir "$TMP/bl-p" --listen 127.0.0.1:0
P_PID=$NODE_PID
P_PORT=$(port_of "$(addr_after "listening on" "$NODE_LINE")")
writer "$P_PORT" 0 $((LOG_MB * 1000000))
stop "$P_PID"
start_node bl-s standby --data-dir "$TMP/bl-s" --ship-listen 127.0.0.1:0 --listen 127.0.0.1:0 --auth-key-file "$TMP/key"
S_PID=$NODE_PID
S_PORT=$(port_of "$(addr_after "listening on" "$NODE_LINE")")
# shellcheck disable=SC2086
start_node bl-x fault-proxy --listen 127.0.0.1:0 --to "$(addr_after "shipments on" "$NODE_LINE")" --faults "$FAULTS" --seed 7 $FLAGS
X_PID=$NODE_PID
t0=$(date +%s.%N)
BL_LINE=$(L ship --data-dir "$TMP/bl-p" --to "$(addr_after "listening on" "$NODE_LINE")" --auth-key-file "$TMP/key" --once 2>/dev/null || echo "failed")
BL_SECS=$(calc "%.1f" "$(date +%s.%N) - $t0")
BL_ATTEMPTS=$(sed -nE 's/.* in ([0-9]+) attempts.*/\1/p' <<<"$BL_LINE")
BL_RECEIVED=$(info "$S_PORT" received_lsn)
stop "$X_PID"
stop "$S_PID"
log "backlog through cuts $BACKLOG_REGIME: a Redis replica attached after the writes"
mp=$(free_port)
redis-server --port "$mp" --save "" --appendonly no --dir "$TMP" --daemonize yes --logfile "$TMP/redis-bl-m.log" >/dev/null
REDIS_PORTS+=("$mp")
wait_ping "$mp"
writer "$mp" 0 $((LOG_MB * 1000000))
# shellcheck disable=SC2086
start_node bl-rx fault-proxy --listen 127.0.0.1:0 --to "127.0.0.1:$mp" --faults "$FAULTS" --seed 7 --cut-toward-client $FLAGS
X_PID=$NODE_PID
xport=$(port_of "$(addr_after "listening on" "$NODE_LINE")")
rp=$(free_port)
t0=$(date +%s.%N)
redis-server --port "$rp" --save "" --appendonly no --dir "$TMP" --daemonize yes \
    --logfile "$TMP/redis-bl-r.log" --replicaof 127.0.0.1 "$xport" >/dev/null
REDIS_PORTS+=("$rp")
# (a replica loading its first sync answers LOADING, not PONG: no wait_ping)
want=$(info "$mp" master_repl_offset)
RBL="> $REDIS_LIMIT (never in sync)"
while (($(calc "%d" "$(date +%s.%N) - $t0") < REDIS_LIMIT)); do
    got=$(info "$rp" slave_repl_offset 2>/dev/null || true)
    if [[ "$(info "$rp" master_link_status 2>/dev/null || true)" == up && "${got:-0}" -ge "$want" ]]; then
        RBL=$(calc "%.1f" "$(date +%s.%N) - $t0")
        break
    fi
    sleep 0.1
done
RBL_KEYS=$(redis-cli -p "$rp" dbsize 2>/dev/null || echo "?")
stop "$X_PID"
RBL_CONNS=$(sed -E 's/.*connections=([0-9]+).*/\1/' <<<"$(grep 'stopped:' "$TMP/bl-rx.out" || true)")
redis-cli -p "$rp" shutdown nosave >/dev/null 2>&1 || true
redis-cli -p "$mp" shutdown nosave >/dev/null 2>&1 || true

# ---- 2. A far, slow link ----------------------------------------------------
log "far link: 50 ms each way, 10 Mbit/s, $FAR_RATE B/s of values for $FAR_SECONDS s"
pair far "latency,throttle" "--latency 50ms --throttle-per-sec 1250000" ""
writer "$P_PORT" "$FAR_RATE" "$FAR_SECONDS" &
W_PID=$!
: >"$TMP/far.lags"
while kill -0 "$W_PID" 2>/dev/null; do
    L status --json --data-dir "$TMP/far-p" |
        python3 -c 'import json,sys; s=json.load(sys.stdin)["standbys"][0]; print(s["lag_bytes"])' >>"$TMP/far.lags"
    sleep 0.25
done
wait "$W_PID"
FAR_STATS=$(python3 - "$TMP/far.lags" <<'EOF'
import sys
v = [int(x) for x in open(sys.argv[1]) if x.strip()]
h = len(v) // 2
q = sorted(v)
print("%d %d %d %d %d" % (len(v), q[len(q) // 2], q[int(len(q) * 0.99)] if len(q) > 1 else q[-1], max(v[:h] or [0]), max(v[h:] or [0])))
EOF
)
read -r FAR_N FAR_P50 FAR_P99 FAR_MAX1 FAR_MAX2 <<<"$FAR_STATS"
unpair far

# ---- 3. --ship-max-rate -----------------------------------------------------
CAP_BYTES=$(python3 -c "
u={'':1,'k':1<<10,'kib':1<<10,'m':1<<20,'mib':1<<20}
import re,sys; m=re.match(r'(\d+)\s*([a-zA-Z]*)', '$CAP'); print(int(m.group(1))*u[m.group(2).lower()])")
log "rate cap $CAP ($CAP_BYTES B/s) under a 10 Mbit/s link, $CAP_MB MB backlog"
pair cap throttle "--throttle-per-sec 1250000" "--ship-max-rate $CAP --compress none"
writer "$P_PORT" 0 $((CAP_MB * 1000000))
DURABLE=$(L status --json --data-dir "$TMP/cap-p" | python3 -c 'import json,sys; print(json.load(sys.stdin)["durable_lsn"])')
r0=$(info "$S_PORT" received_lsn)
t0=$(date +%s.%N)
while :; do
    r1=$(info "$S_PORT" received_lsn)
    if [[ "${r1:-0}" -ge "$DURABLE" ]]; then break; fi
    sleep 0.02
done
CAP_SECS=$(calc "%.2f" "$(date +%s.%N) - $t0")
CAP_RATE=$(calc "%.0f" "($r1 - $r0) / $CAP_SECS")
unpair cap

# ---- The table ----------------------------------------------------------------
echo
echo "logship $("$LOGSHIP_BIN" --version 2>/dev/null | awk '{print $2}'), $(redis-server --version | awk '{print $3}' | tr -d 'v='), $(nproc) cores, kernel $(uname -r), $(date -u +%FT%TZ)"
echo
echo "Convergence: $LOG_MB MB of values that do not compress, shipped continuously through cuts"
echo
echo "| regime | log bytes | reconnects | bytes to the standby | re-sent beyond the clean link | seconds from the last write to equal keyspaces |"
echo "|---|---|---|---|---|---|"
for regime in $REGIMES; do echo "${ROW[$regime]}"; done
for regime in $REDIS_REGIMES; do echo "${REDIS_ROW[$regime]}"; done
echo
echo "Clean link (the baseline): $CLEAN_SECS s. Targets: 20-400 KB within 30 s, 5-50 KB within 120 s."
echo
echo "| backlog of $LOG_MB MB through cuts every $BACKLOG_REGIME, the receiver attached after the writes | seconds to in sync | attempts / connections |"
echo "|---|---|---|"
echo "| logship ship --once (received $BL_RECEIVED of the log) | $BL_SECS | ${BL_ATTEMPTS:-1} attempts |"
echo "| Redis replica, full resync ($RBL_KEYS keys at the end) | $RBL | $RBL_CONNS connections |"
echo
echo "| far link: 50 ms each way, 10 Mbit/s, $FAR_RATE B/s for $FAR_SECONDS s | value |"
echo "|---|---|"
echo "| lag samples | $FAR_N |"
echo "| lag p50 / p99 bytes | $FAR_P50 / $FAR_P99 |"
echo "| lag max, first half / second half, bytes | $FAR_MAX1 / $FAR_MAX2 |"
echo
echo "| --ship-max-rate $CAP under a 10 Mbit/s link | value |"
echo "|---|---|"
echo "| bytes received / seconds | $((r1 - r0)) / $CAP_SECS |"
echo "| rate, B/s | $CAP_RATE ($(calc "%.3f" "$CAP_RATE / $CAP_BYTES")x the cap) |"
