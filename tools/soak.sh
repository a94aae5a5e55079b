#!/usr/bin/env bash
# Soak run: a primary shipping every second to a standby through
# `logship fault-proxy`, continuous writes, kill -9 of the standby and a new
# proxy fault set at intervals, the primary's RSS sampled each minute. At the
# end: the standby's applied LSN must reach the primary's durable LSN with equal
# DEBUG DIGESTs, RSS at the end must be <= 1.2x RSS at minute 2, and the logs
# must hold no ERROR line beyond the injected faults. Prints a table; exits
# non-zero if anything failed.
#
# Usage: tools/soak.sh [--minutes M]   (default 30; at least 2)
# Environment:
#   LOGSHIP_BIN=...          use this binary instead of building target/release/logship
#   SOAK_SEED=N              seed of the proxy (default: from the clock; printed)
#   WRITES_PER_BATCH=2000    writes per batch (SET of one of 100000 keys + INCR)
#   STANDBY_RESTART_EVERY=45 seconds between kill -9s of the standby
#   FAULT_CHANGE_EVERY=40    seconds between proxy fault changes
#   KEEP=1                   keep the working directory (logs) after the run
set -euo pipefail

MINUTES=30
while (($#)); do
    case "$1" in
    --minutes) MINUTES=${2:?--minutes needs a number}; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
done
[[ "$MINUTES" =~ ^[0-9]+$ ]] && ((MINUTES >= 2)) || {
    echo "soak.sh: --minutes '$MINUTES' must be a whole number of at least 2" >&2
    exit 1
}
SEED=${SOAK_SEED:-$(date +%s)}
WRITES_PER_BATCH=${WRITES_PER_BATCH:-2000}
STANDBY_RESTART_EVERY=${STANDBY_RESTART_EVERY:-45}
FAULT_CHANGE_EVERY=${FAULT_CHANGE_EVERY:-40}
FAULT_SETS=(delay split cut drop duplicate throttle "delay,split,cut" "drop,duplicate,throttle")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

need redis-cli redis-tools
if [[ -z "${LOGSHIP_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOGSHIP_BIN="$ROOT/target/release/logship"
fi

TMP=$(mktemp -d /tmp/soak.XXXXXX)
PRIMARY_PID= STANDBY_PID= PROXY_PID= WRITER_PID=
cleanup() {
    for p in $WRITER_PID $PRIMARY_PID $STANDBY_PID $PROXY_PID; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ "${KEEP:-}" == 1 ]]; then echo "soak.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM
log() { echo "[$(date -u +%T)] $*" >&2; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
json() { # json FIELD < one JSON object
    python3 -c "import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print(0 if v is None else v)" "$1"
}
status_field() { # status_field DIR FIELD
    timeout 30 "$LOGSHIP_BIN" status --json --data-dir "$1" | json "$2"
}

P_PORT=$(free_port); S_PORT=$(free_port); SHIP_PORT=$(free_port); PROXY_PORT=$(free_port)
head -c 32 /dev/urandom | base64 >"$TMP/key"
"$LOGSHIP_BIN" init --data-dir "$TMP/p" --segment-bytes 16MiB >/dev/null

start_standby() {
    for _ in $(seq 1 100); do
        LOGSHIP_LOG=info "$LOGSHIP_BIN" standby --data-dir "$TMP/s" --listen "127.0.0.1:$S_PORT" \
            --ship-listen "127.0.0.1:$SHIP_PORT" --auth-key-file "$TMP/key" \
            >>"$TMP/standby.out" 2>>"$TMP/standby.log" &
        STANDBY_PID=$!
        sleep 0.3
        if kill -0 "$STANDBY_PID" 2>/dev/null; then
            wait_ping "$S_PORT"
            return
        fi
        wait "$STANDBY_PID" 2>/dev/null || true # the port was still taken: again
    done
    log "the standby does not start"; exit 1
}
start_proxy() { # start_proxy FAULTS
    for _ in $(seq 1 100); do
        LOGSHIP_LOG=info "$LOGSHIP_BIN" fault-proxy --listen "127.0.0.1:$PROXY_PORT" \
            --to "127.0.0.1:$SHIP_PORT" --seed "$((SEED + FAULT_CHANGES))" --faults "$1" \
            >>"$TMP/proxy.out" 2>>"$TMP/proxy.log" &
        PROXY_PID=$!
        sleep 0.2
        if kill -0 "$PROXY_PID" 2>/dev/null; then return; fi
        wait "$PROXY_PID" 2>/dev/null || true
    done
    log "the fault proxy does not start"; exit 1
}

# The writer: batches of SET (100000 keys) + INCR through redis-cli --pipe; each
# batch's "errors: E, replies: R" line goes to writes.log. Values have a fixed
# width, so that the dataset does not grow during the run (the RSS check).
writer() {
    local batch=0
    while [[ ! -e "$TMP/stop" ]]; do
        awk -v n="$WRITES_PER_BATCH" -v b="$batch" 'BEGIN {
            for (i = 0; i < n; i++) {
                k = "key:" ((b * n + i) % 100000); v = sprintf("v%09d-%06d", b, i)
                printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
                if (i % 10 == 0) printf "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n"
            }
        }' | redis-cli -p "$P_PORT" --pipe 2>&1 | grep -a '^errors:' >>"$TMP/writes.log" || true
        batch=$((batch + 1))
        sleep 0.2
    done
}

FAULT_CHANGES=0
STANDBY_RESTARTS=0
log "soak: $MINUTES minutes, seed $SEED, working in $TMP"
start_standby
start_proxy "${FAULT_SETS[0]}"
LOGSHIP_LOG=info "$LOGSHIP_BIN" primary --data-dir "$TMP/p" --listen "127.0.0.1:$P_PORT" \
    --fsync always --checkpoint-wal-bytes 64MiB --checkpoint-interval 1m \
    --ship-to "127.0.0.1:$PROXY_PORT" --ship-every 1s --auth-key-file "$TMP/key" \
    >"$TMP/primary.out" 2>"$TMP/primary.log" &
PRIMARY_PID=$!
wait_ping "$P_PORT"
writer &
WRITER_PID=$!

START=$(date +%s)
END=$((START + MINUTES * 60))
NEXT_RESTART=$((START + STANDBY_RESTART_EVERY))
NEXT_FAULT=$((START + FAULT_CHANGE_EVERY))
NEXT_SAMPLE=$((START + 60))
RSS=()
while (($(date +%s) < END)); do
    now=$(date +%s)
    kill -0 "$PRIMARY_PID" 2>/dev/null || { log "the primary died"; break; }
    if ((now >= NEXT_SAMPLE)); then
        RSS+=("$(rss_kib "$PRIMARY_PID")")
        log "minute ${#RSS[@]}: primary RSS ${RSS[-1]} KiB"
        NEXT_SAMPLE=$((NEXT_SAMPLE + 60))
    fi
    if ((now >= NEXT_RESTART)); then
        kill -9 "$STANDBY_PID"; wait "$STANDBY_PID" 2>/dev/null || true
        STANDBY_RESTARTS=$((STANDBY_RESTARTS + 1))
        log "kill -9 of the standby (#$STANDBY_RESTARTS)"
        start_standby
        NEXT_RESTART=$((NEXT_RESTART + STANDBY_RESTART_EVERY))
    fi
    if ((now >= NEXT_FAULT)); then
        FAULT_CHANGES=$((FAULT_CHANGES + 1))
        faults=${FAULT_SETS[$((FAULT_CHANGES % ${#FAULT_SETS[@]}))]}
        kill -9 "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
        log "proxy faults now: $faults"
        start_proxy "$faults"
        NEXT_FAULT=$((NEXT_FAULT + FAULT_CHANGE_EVERY))
    fi
    sleep 1
done
if kill -0 "$PRIMARY_PID" 2>/dev/null; then RSS+=("$(rss_kib "$PRIMARY_PID")"); fi
touch "$TMP/stop" # the writer finishes its batch and stops
wait "$WRITER_PID" 2>/dev/null || true
WRITER_PID=

# Catch-up: the standby's applied LSN must reach the primary's durable LSN.
converged=no digest_equal=no durable=0 applied=0
if kill -0 "$PRIMARY_PID" 2>/dev/null; then
    sleep 1
    for _ in $(seq 1 600); do
        durable=$(status_field "$TMP/p" durable_lsn)
        applied=$(status_field "$TMP/s" applied_lsn || echo 0)
        if [[ "$applied" == "$durable" ]]; then converged=yes; break; fi
        sleep 0.5
    done
    dp=$(redis-cli -p "$P_PORT" DEBUG DIGEST)
    ds=$(redis-cli -p "$S_PORT" DEBUG DIGEST)
    [[ "$converged" == yes && -n "$dp" && "$dp" == "$ds" ]] && digest_equal=yes
fi

acked=$(awk -F'[:, ]+' '{ r += $4 } END { print r + 0 }' "$TMP/writes.log")
write_errors=$(awk -F'[:, ]+' '{ e += $2 } END { print e + 0 }' "$TMP/writes.log")
injected=$(grep -cE 'fault proxy: (dropped|cut|duplicated)' "$TMP/proxy.log" || true)
error_lines=$(cat "$TMP/primary.log" "$TMP/standby.log" "$TMP/proxy.log" | grep -a ' ERROR ' | grep -cv 'fault proxy' || true)
rss2=${RSS[1]:-0}
rss_end=${RSS[-1]:-0}
rss_ok=no
if ((rss2 > 0)) && ((rss_end * 10 <= rss2 * 12)); then rss_ok=yes; fi
result=pass
[[ "$digest_equal" == yes && "$rss_ok" == yes && "$error_lines" == 0 && "$write_errors" == 0 && "$acked" -gt 0 ]] || result=FAIL

printf '| minutes | writes acked | write errors | standby kill -9 | proxy fault changes | faults injected (drop/cut/dup) | RSS min 2 | RSS end | RSS ok | applied = durable | digests equal | unexpected ERROR lines | result |\n'
printf '|--------:|-------------:|-------------:|----------------:|--------------------:|-------------------------------:|----------:|--------:|--------|-------------------|---------------|-----------------------:|--------|\n'
printf '| %s | %s | %s | %s | %s | %s | %s KiB | %s KiB | %s | %s (%s) | %s | %s | %s |\n' \
    "$MINUTES" "$acked" "$write_errors" "$STANDBY_RESTARTS" "$FAULT_CHANGES" "$injected" \
    "$rss2" "$rss_end" "$rss_ok" "$converged" "$durable" "$digest_equal" "$error_lines" "$result"
if [[ "$result" != pass ]]; then
    echo "soak.sh: failed; unexpected ERROR lines:" >&2
    cat "$TMP/primary.log" "$TMP/standby.log" | grep -a ' ERROR ' | grep -v 'fault proxy' | head -20 >&2 || true
    KEEP=1
    exit 1
fi
