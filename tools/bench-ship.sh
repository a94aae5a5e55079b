#!/usr/bin/env bash
# Shipping benchmark: backlog shipping rate, compression, standby replay rate
# (catch-up of a received log, and receiving while replaying),
# continuous-shipping lag and standby memory, each next to a baseline measured
# in the same run (fio, Redis replication). Prints one markdown table.
#
# Usage: tools/bench-ship.sh
# Environment:
#   BACKLOG_BYTES=1073741824   size of the log shipped in row 1
#   LOAD_N=500000              SETs loading the primary for rows 2, 3 and 5
#   EXTRA_N=1500000            further SETs before the replay measurement (row 3)
#   LAG_SAMPLES=2000           samples per lag run (row 4), bounded by LAG_SECONDS
#   LAG_SECONDS=10
#   LAG_ROUNDS=3               lag runs per server, logship and Redis taking turns
#   LAG_LOAD_RATE=50000        background SETs per second during the lag runs
#   ROWS="1 2 3 4 5"           the rows to run (rows 2, 3, 3a and 5 share one loaded
#                              primary: naming any of them runs them all; 4 runs 4 and 4a)
#   LOGSHIP_BIN=...            use this binary instead of building target/release/logship
set -euo pipefail

BACKLOG_BYTES=${BACKLOG_BYTES:-1073741824}
LOAD_N=${LOAD_N:-500000}
EXTRA_N=${EXTRA_N:-1500000}
LAG_SAMPLES=${LAG_SAMPLES:-2000}
LAG_SECONDS=${LAG_SECONDS:-10}
LAG_ROUNDS=${LAG_ROUNDS:-3}
if ! [[ $LAG_ROUNDS =~ ^[1-9][0-9]*$ ]]; then
    echo "bench-ship.sh: LAG_ROUNDS must be a whole number from 1 up, not '$LAG_ROUNDS'" >&2
    exit 2
fi
LAG_LOAD_RATE=${LAG_LOAD_RATE:-50000}
ROWS=" ${ROWS:-1 2 3 4 5} "
ROWS=${ROWS//,/ }
# row N...: true when one of the rows N is asked for.
row() {
    local r
    for r in "$@"; do [[ $ROWS == *" $r "* ]] && return 0; done
    return 1
}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEP_TIMEOUT=600 # seconds any one step may take
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

need fio fio
need redis-benchmark redis-tools
need redis-cli redis-tools
need redis-server redis-server
if [[ -z "${LOGSHIP_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOGSHIP_BIN="$ROOT/target/release/logship"
fi
L() { timeout "$STEP_TIMEOUT" "$LOGSHIP_BIN" "$@"; }

bench_start bench-ship
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
json() { # json FIELD < one JSON object
    python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
head -c 32 /dev/urandom >"$TMP/key"

# The address after "listening on" / "(shipments on" in a start line.
resp_addr() { sed -E 's/.*listening on ([^ ]+).*/\1/' <<<"$1"; }
ship_addr() { sed -E 's/.*\(shipments on ([^ )]+).*/\1/' <<<"$1"; }
port_of() { echo "${1##*:}"; }

# load PORT N [extra redis-benchmark flags]: prints requests/s.
load() {
    local port=$1 n=$2
    shift 2
    timeout "$STEP_TIMEOUT" redis-benchmark -p "$port" -t set -r 100000 -d 100 -n "$n" "$@" -q 2>/dev/null |
        tr '\r' '\n' | awk '/requests per second/ { r = $2 } END { print r + 0 }'
}

if row 1; then
# ---- Row 1: 1 GiB backlog shipped end to end vs fio sequential write ----------
RECORDS=$((BACKLOG_BYTES / 136)) # 100-byte payload + 32-byte header, 8-aligned
log "writing a $BACKLOG_BYTES-byte log ($RECORDS records of 100 bytes)"
L bench wal --dir "$TMP/backlog" --records "$RECORDS" --record-bytes 100 \
    --sync never --pipeline 1024 --json >/dev/null
sync
log "fio sequential write, 1 GiB"
mkdir -p "$TMP/fio"
FIO_KIB=$(timeout "$STEP_TIMEOUT" fio --name=seq --directory="$TMP/fio" --rw=write --bs=1m \
    --size=1g --end_fsync=1 --output-format=terse | awk -F';' '{print $48}')
FIO_MBS=$(calc "%.1f" "$FIO_KIB * 1024 / 1e6")
rm -rf "$TMP/fio"
sync
log "bench ship of the backlog"
SHIP_JSON=$(L bench ship --wal-dir "$TMP/backlog" --standby-dir "$TMP/backlog-copy" --json)
SHIP_MBS=$(json mb_per_second <<<"$SHIP_JSON")
SHIP_MBS=$(calc "%.1f" "$SHIP_MBS")
rm -rf "$TMP/backlog" "$TMP/backlog-copy"

fi

if row 2 3 5; then
# ---- Row 2: zstd ratio on a redis-benchmark log -------------------------------
log "primary loaded by redis-benchmark ($LOAD_N SETs)"
L init --data-dir "$TMP/p" >/dev/null
start_node primary primary --data-dir "$TMP/p" --listen 127.0.0.1:0 --fsync always
PRIMARY_PID=$NODE_PID
PRIMARY_PORT=$(port_of "$(resp_addr "$NODE_LINE")")
LOAD_RATE=$(load "$PRIMARY_PORT" "$LOAD_N" -P 16 -c 50)
sync
ZJSON=$(L bench ship --wal-dir "$TMP/p/wal" --standby-dir "$TMP/zcopy" --json)
ZRATIO=$(calc "%.2f" "$(json compression_ratio <<<"$ZJSON")")
ZRAW=$(json bytes <<<"$ZJSON")
ZWIRE=$(json wire_bytes <<<"$ZJSON")
rm -rf "$TMP/zcopy"

# ---- Rows 3 and 5: standby replay rate and RSS --------------------------------
log "more load ($EXTRA_N SETs), then stop the primary"
load "$PRIMARY_PORT" "$EXTRA_N" -P 16 -c 50 >/dev/null
PRIMARY_RSS=$(rss_kib "$PRIMARY_PID")
kill -9 "$PRIMARY_PID"
wait "$PRIMARY_PID" 2>/dev/null || true
WAL_RECORDS=$(L verify --json "$TMP/p/wal" | json records)
start_node standby standby --data-dir "$TMP/s" --ship-listen 127.0.0.1:0 \
    --listen 127.0.0.1:0 --auth-key-file "$TMP/key"
STANDBY_PID=$NODE_PID
SHIP_TO=$(ship_addr "$NODE_LINE")
sleep 0.5
RSS_BEFORE=$(rss_kib "$STANDBY_PID")
sync
log "shipping $WAL_RECORDS records to a standby; polling its status every 20 ms"
# The poller starts the shipment itself: applied_lsn before it, then the first
# poll that sees applied_lsn move, then the poll that sees applied == received
# after the shipment was acknowledged (the ship process exited).
timeout "$STEP_TIMEOUT" python3 - "$LOGSHIP_BIN" "$TMP/s" "$TMP/p" "$SHIP_TO" "$TMP/key" \
    >"$TMP/replay" 2>"$TMP/ship.log" <<'EOF' || { cat "$TMP/ship.log" >&2; exit 1; }
import json, subprocess, sys, time
bin_, d, p, to, key = sys.argv[1:6]
def status():
    out = subprocess.run([bin_, "status", "--data-dir", d, "--json"], capture_output=True, timeout=10)
    return json.loads(out.stdout) if out.returncode == 0 else None
a0 = (status() or {}).get("applied_lsn") or 0
ship = subprocess.Popen([bin_, "ship", "--once", "--data-dir", p, "--to", to, "--auth-key-file", key],
                        stdout=subprocess.DEVNULL)
prev = first = last = None
deadline = time.time() + 500
while time.time() < deadline:
    t = time.time()
    s = status()
    if s:
        a, r = s.get("applied_lsn") or 0, s.get("received_lsn") or 0
        if first is None and a > a0:
            first = t
        elif first is None:
            prev = t
        if first is not None and a == r and ship.poll() is not None:
            last = t
            break
    time.sleep(max(0.0, 0.02 - (time.time() - t)))
if ship.wait(timeout=60) != 0 or last is None:
    sys.exit("shipment failed or the standby did not catch up")
if first == last:  # everything applied between two polls
    first = prev
print(f"{first} {last}")
EOF
read -r R_FIRST R_LAST <"$TMP/replay"
REPLAY_SECS=$(calc "%.3f" "$R_LAST - $R_FIRST")
REPLAY_RATE=$(calc "%.0f" "$WAL_RECORDS / ($R_LAST - $R_FIRST)")
RSS_AFTER=$(rss_kib "$STANDBY_PID")
RSS_GROWTH_MIB=$(calc "%.1f" "($RSS_AFTER - $RSS_BEFORE) / 1024")
DATASET_MIB=$(calc "%.1f" "100000 * (100 + 16) / 1048576") # keys x (value + key)
PRIMARY_RSS_MIB=$(calc "%.1f" "$PRIMARY_RSS / 1024")
EXCESS_MIB=$(calc "%.1f" "$RSS_GROWTH_MIB - $DATASET_MIB")
kill -9 "$STANDBY_PID"
wait "$STANDBY_PID" 2>/dev/null || true

# Replay on its own: a standby with --apply-delay 24h receives the same log
# without applying it, is killed, and restarts without the delay; its catch-up
# replay logs the records and the time they took (reading, checking, applying).
log "catch-up replay of $WAL_RECORDS received records"
start_node heldstandby standby --data-dir "$TMP/h" --ship-listen 127.0.0.1:0 \
    --listen 127.0.0.1:0 --auth-key-file "$TMP/key" --apply-delay 24h
HELD_PID=$NODE_PID
L ship --once --data-dir "$TMP/p" --to "$(ship_addr "$NODE_LINE")" --auth-key-file "$TMP/key" >/dev/null
kill -9 "$HELD_PID"
wait "$HELD_PID" 2>/dev/null || true
sync
start_node catchup standby --data-dir "$TMP/h" --ship-listen 127.0.0.1:0 \
    --listen 127.0.0.1:0 --auth-key-file "$TMP/key"
CATCHUP_PID=$NODE_PID
CATCHUP_LINE=
for _ in $(seq 1 "$((STEP_TIMEOUT * 10))"); do
    CATCHUP_LINE=$(grep -a 'catch-up replay complete' "$TMP/catchup.log" || true)
    if [[ -n "$CATCHUP_LINE" ]]; then break; fi
    sleep 0.1
done
[[ -n "$CATCHUP_LINE" ]] || { echo "the catch-up replay did not finish" >&2; exit 1; }
CATCHUP_RECORDS=$(sed -E 's/.* records=([0-9]+).*/\1/' <<<"$CATCHUP_LINE")
CATCHUP_MS=$(sed -E 's/.* ms=([0-9]+).*/\1/' <<<"$CATCHUP_LINE")
CATCHUP_RATE=$(calc "%.0f" "$CATCHUP_RECORDS / ($CATCHUP_MS / 1000)")
kill -9 "$CATCHUP_PID"
wait "$CATCHUP_PID" 2>/dev/null || true

fi

if row 4; then
# ---- Row 4: --ship-continuous lag, vs Redis replication -----------------------
# Both pairs run side by side (the idle one costs next to nothing) and take
# turns, LAG_ROUNDS runs each: a burst of noise on a shared machine then
# spoils one round of one side, not the whole comparison, and the median
# rounds are compared.
#
# lag_run NAME PRIMARY_PORT STANDBY_PORT ROUND: bench lag, with a background
# load held at LAG_LOAD_RATE SETs/s on the primary (the same load for both
# servers, where a flat-out load generator would load each at a different
# rate), into $TMP/NAME.lag.ROUND.
lag_run() {
    local name=$1 pport=$2 sport=$3 round=$4
    L bench lag --primary "127.0.0.1:$pport" --standby "127.0.0.1:$sport" \
        --samples "$LAG_SAMPLES" --duration "${LAG_SECONDS}s" \
        --load-rate "$LAG_LOAD_RATE" --load-connections 20 --json >"$TMP/$name.lag.$round"
}
# lag_summary NAME: over NAME's rounds, prints "p50 p99 max samples load_rate
# get_rtt_p50 get_rtt_p99 p99s": the median round's percentiles, the largest
# max, all samples, the mean load reached, and each round's p99 in ms.
lag_summary() {
    python3 - "$TMP/$1".lag.* <<'EOF'
import json, statistics, sys
files = sorted(sys.argv[1:], key=lambda f: int(f.rsplit(".", 1)[1]))
runs = [json.load(open(f)) for f in files]
med = lambda k: statistics.median(r[k] for r in runs)
print(med("p50_us"), med("p99_us"), max(r["max_us"] for r in runs),
      sum(r["samples"] for r in runs),
      round(statistics.mean(r["load"]["writes_per_second"] for r in runs)),
      med("get_rtt_p50_us"), med("get_rtt_p99_us"),
      ",".join("%.3f" % (r["p99_us"] / 1000) for r in runs))
EOF
}
log "lag: logship primary --ship-continuous -> standby"
start_node lagstandby standby --data-dir "$TMP/ls" --ship-listen 127.0.0.1:0 \
    --listen 127.0.0.1:0 --auth-key-file "$TMP/key"
LS_PORT=$(port_of "$(resp_addr "$NODE_LINE")")
LS_SHIP=$(ship_addr "$NODE_LINE")
L init --data-dir "$TMP/lp" >/dev/null
start_node lagprimary primary --data-dir "$TMP/lp" --listen 127.0.0.1:0 \
    --fsync always --ship-to "$LS_SHIP" --ship-continuous --auth-key-file "$TMP/key"
LP_PORT=$(port_of "$(resp_addr "$NODE_LINE")")

log "lag: redis-server --appendfsync always -> replica"
RM=$(free_port)
REDIS_PORTS+=("$RM")
mkdir -p "$TMP/rm" "$TMP/rr"
redis-server --port "$RM" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
    --dir "$TMP/rm" --daemonize yes --logfile "$TMP/rm/log"
wait_ping "$RM"
RR=$(free_port)
REDIS_PORTS+=("$RR")
redis-server --port "$RR" --bind 127.0.0.1 --save "" --replicaof 127.0.0.1 "$RM" \
    --dir "$TMP/rr" --daemonize yes --logfile "$TMP/rr/log"
wait_ping "$RR"
for _ in $(seq 1 100); do
    if redis-cli -p "$RR" info replication | grep -q 'master_link_status:up'; then break; fi
    sleep 0.1
done
sleep 1
for round in $(seq 1 "$LAG_ROUNDS"); do
    log "lag round $round of $LAG_ROUNDS: logship, then Redis"
    lag_run logship "$LP_PORT" "$LS_PORT" "$round"
    lag_run redis "$RM" "$RR" "$round"
done
read -r LG50 LG99 LGMAX LGN LGRATE LGF50 LGF99 LG99S <<<"$(lag_summary logship)"
read -r RG50 RG99 RGMAX RGN RGRATE RGF50 RGF99 RG99S <<<"$(lag_summary redis)"

fi

# ---- The table ----------------------------------------------------------------
ms() { calc "%.3f" "$1 / 1000"; }
cat <<EOF
# $(nproc) cores, $(uname -r); redis $(redis-server --version | awk '{print $3}' | sed 's/v=//'); $(date -u +%FT%TZ)

| # | measurement | logship | baseline | ratio | target |
|---|---|---|---|---|---|
EOF
row 1 && cat <<EOF
| 1 | $BACKLOG_BYTES-byte backlog shipped end to end (zstd), MB/s | $SHIP_MBS | fio seq write 1 MiB blocks + fsync: $FIO_MBS | $(calc "%.2f" "$SHIP_MBS / $FIO_MBS")x | >= 0.70x |
EOF
row 2 3 5 && cat <<EOF
| 2 | zstd ratio on the log of $LOAD_N redis-benchmark SETs (100-byte values), raw/wire bytes | $ZRAW / $ZWIRE | 1.00 (uncompressed) | $ZRATIO x | >= 3x |
EOF
row 2 3 5 && cat <<EOF
| 3 | standby replay rate, records/s (catch-up of $CATCHUP_RECORDS received records in $CATCHUP_MS ms) | $CATCHUP_RATE | 1,000,000 (target) | $(calc "%.2f" "$CATCHUP_RATE / 1000000")x | >= 1.00x |
EOF
row 2 3 5 && cat <<EOF
| 3a | receive + replay together, records/s ($WAL_RECORDS records shipped in $REPLAY_SECS s, 20 ms polls; bounded by the standby's fsyncs) | $REPLAY_RATE | 1,000,000 | $(calc "%.2f" "$REPLAY_RATE / 1000000")x | (for information) |
EOF
row 4 && cat <<EOF
| 4 | --ship-continuous lag, SET ack -> readable on standby, p50 / p99 / max ms (median of $LAG_ROUNDS rounds taking turns with Redis, $LGN samples in all; per-round p99 $LG99S; background load held at $LGRATE SET/s) | $(ms "$LG50") / $(ms "$LG99") / $(ms "$LGMAX") | Redis appendfsync always + replica ($RGN samples; per-round p99 $RG99S; load $RGRATE SET/s): $(ms "$RG50") / $(ms "$RG99") / $(ms "$RGMAX") | p99 $(calc "%.2f" "$LG99 / $RG99")x | p99 <= 1 ms |
EOF
row 4 && cat <<EOF
| 4a | floor of row 4: one GET round trip to the standby / replica, p50 / p99 ms (timed before each sample, same load; median round) | $(ms "$LGF50") / $(ms "$LGF99") | Redis replica: $(ms "$RGF50") / $(ms "$RGF99") | lag p99 / floor p99: logship $(calc "%.2f" "$LG99 / $LGF99")x, Redis $(calc "%.2f" "$RG99 / $RGF99")x | (for information) |
EOF
row 2 3 5 && cat <<EOF
| 5 | standby RSS growth receiving the backlog, MiB | $RSS_GROWTH_MIB | dataset ~$DATASET_MIB (100k keys x 116 B); primary RSS with the same data $PRIMARY_RSS_MIB | +$EXCESS_MIB beyond dataset | <= 64 MiB beyond |
EOF
exit 0
