#!/usr/bin/env bash
# Fan-out benchmark: what each continuous standby link costs the primary.
#
# One primary (--fsync always) ships continuously to 0, 1, 4, 8 and 16
# standbys on this host while `logship bench lag` holds a steady SET load on
# it and samples the lag of every standby at once (a polling thread each;
# each sample waits until the value is readable on all of them): the lag of
# the slowest standby per sample, and the spread over standbys of each one's
# own p50 and p99 (min / median / max). For each count it reports the
# primary's CPU (user + system, from /proc) per second and per GB shipped per
# link, the cost of each link beyond the first as a share of one core, and
# whether every standby converged (applied LSN = durable LSN, equal DEBUG
# DIGEST). Then the same load through a cascade: primary -> 1 standby -> 15
# cascaded ones, where the primary's cost should be that of one link.
# Last, redis-benchmark SET -P 16 -c 50 with 0 and 1 continuous standby.
#
# On 2 cores, sixteen standbys replaying the load compete with the primary
# for the CPU: the lag column measures that contention as much as shipping.
#
# Usage: tools/bench-fanout.sh
# Environment:
#   RATE=20000          SETs per second of the steady load
#   SECONDS_PER_RUN=20  how long each count runs
#   COUNTS="0 1 4 8 16"
#   LAG_OF=all          all: sample every standby's lag; last: only the last
#                       standby's (one polling thread: less CPU taken from the nodes)
#   LOGSHIP_BIN=...     use this binary instead of building target/release/logship
set -euo pipefail

RATE=${RATE:-20000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
COUNTS=${COUNTS:-0 1 4 8 16}
LAG_OF=${LAG_OF:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

need redis-benchmark redis-tools
need redis-cli redis-tools
if [[ -z "${LOGSHIP_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOGSHIP_BIN="$ROOT/target/release/logship"
fi
bench_start bench-fanout
L() { timeout 300 "$LOGSHIP_BIN" --no-config "$@"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
json() { python3 -c "import json,sys; v=json.load(sys.stdin); [v:=v[k] for k in sys.argv[1:]]; print(v)" "$@"; }
# cpu PID: user + system seconds of the process so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
# tcpu PID NAME: user + system seconds so far of the process's threads named NAME.
tcpu() {
    local sum=0 t
    for t in /proc/"$1"/task/*; do
        if [[ $(cat "$t/comm" 2>/dev/null) == "$2" ]]; then
            sum=$(awk -v s="$sum" -v t="$(getconf CLK_TCK)" '{ printf "%.3f", s + ($14 + $15) / t }' "$t/stat")
        fi
    done
    echo "$sum"
}

# standbys N PREFIX [FLAGS...]: starts N standbys; their ship addresses in SHIP_ADDRS,
# RESP ports in SB_PORTS, directories in SB_DIRS.
standbys() {
    local n=$1 prefix=$2
    shift 2
    SHIP_ADDRS=() SB_PORTS=() SB_DIRS=()
    for i in $(seq 1 "$n"); do
        local port ship dir
        port=$(free_port)
        ship=$(free_port)
        dir="$TMP/$prefix$i"
        start_node "$prefix$i" standby --data-dir "$dir" --listen "127.0.0.1:$port" \
            --ship-listen "127.0.0.1:$ship" --insecure-no-auth --checkpoint-interval 10s "$@"
        SHIP_ADDRS+=("127.0.0.1:$ship")
        SB_PORTS+=("$port")
        SB_DIRS+=("$dir")
    done
}

# converged PRIMARY_DIR DIRS...: waits (60 s at most) until every standby
# applied the primary's durable LSN with an equal digest; prints yes or no.
converged() {
    local pdir=$1 pport=$2
    shift 2
    local durable digest
    durable=$(L status --data-dir "$pdir" --json | json durable_lsn)
    digest=$(redis-cli -p "$pport" debug digest)
    for i in "$@"; do
        local dir=${SB_DIRS[$i]} port=${SB_PORTS[$i]} ok=no
        for _ in $(seq 1 600); do
            if [[ $(L status --data-dir "$dir" --json | json applied_lsn) == "$durable" ]]; then
                ok=yes
                break
            fi
            sleep 0.1
        done
        if [[ $ok != yes || $(redis-cli -p "$port" debug digest) != "$digest" ]]; then
            echo no
            return
        fi
    done
    echo yes
}

ROWS=()
# run LABEL N_DIRECT [cascade]: one measured run.
run() {
    local label=$1 n=$2 mode=${3:-direct}
    local pdir="$TMP/p-$label" pport ship_flags=() lag_port leaves=()
    pport=$(free_port)
    L init --data-dir "$pdir" >/dev/null
    if [[ $mode == cascade ]]; then
        standbys 15 "leaf-$label-"
        local leaf_addrs=("${SHIP_ADDRS[@]}") leaf_ports=("${SB_PORTS[@]}") leaf_dirs=("${SB_DIRS[@]}")
        local cflags=()
        for a in "${leaf_addrs[@]}"; do cflags+=(--cascade-to "$a"); done
        standbys 1 "mid-$label-" "${cflags[@]}" --ship-continuous
        ship_flags=(--ship-to "${SHIP_ADDRS[0]}")
        SHIP_ADDRS+=("${leaf_addrs[@]}")
        SB_PORTS+=("${leaf_ports[@]}")
        SB_DIRS+=("${leaf_dirs[@]}")
    else
        standbys "$n" "sb-$label-"
        for a in ${SHIP_ADDRS[@]+"${SHIP_ADDRS[@]}"}; do ship_flags+=(--ship-to "$a"); done
    fi
    local total=${#SB_DIRS[@]}
    if ((${#ship_flags[@]})); then ship_flags+=(--insecure-no-auth --ship-continuous); fi
    start_node "p-$label" primary --data-dir "$pdir" --listen "127.0.0.1:$pport" --fsync always \
        ${ship_flags[@]+"${ship_flags[@]}"}
    local ppid=$NODE_PID
    wait_ping "$pport"
    # The standbys whose lag is sampled (the primary itself when there are none).
    local lag_flags=(--standby "127.0.0.1:$pport")
    if ((total > 0)); then
        lag_flags=()
        if [[ $LAG_OF == last ]]; then
            lag_flags=(--standby "127.0.0.1:${SB_PORTS[$((total - 1))]}")
        else
            for lag_port in "${SB_PORTS[@]}"; do lag_flags+=(--standby "127.0.0.1:$lag_port"); done
        fi
    fi
    local c0 d0 c1 d1 lagj
    c0=$(cpu "$ppid")
    local s0 w0 s1 w1
    s0=$(tcpu "$ppid" shipper)
    w0=$(tcpu "$ppid" wal-writer)
    d0=$(L status --data-dir "$pdir" --json | json durable_lsn)
    lagj=$(L bench lag --primary "127.0.0.1:$pport" "${lag_flags[@]}" \
        --duration "${SECONDS_PER_RUN}s" --samples 1000000 --load-rate "$RATE" \
        --load-connections 8 --json)
    c1=$(cpu "$ppid")
    s1=$(tcpu "$ppid" shipper)
    w1=$(tcpu "$ppid" wal-writer)
    d1=$(L status --data-dir "$pdir" --json | json durable_lsn)
    local secs=$SECONDS_PER_RUN
    local cpu_s shipped_gb conv idx=() spread
    # min / median / max over the standbys of each one's p50, then of its p99 (ms).
    spread=$(python3 -c '
import json, statistics, sys
sb = json.load(sys.stdin)["standbys"]
def mmm(k):
    v = sorted(x[k] / 1000 for x in sb)
    return "%.2f / %.2f / %.2f" % (v[0], statistics.median(v), v[-1])
print(mmm("p50_us") + "|" + mmm("p99_us"))' <<<"$lagj")
    cpu_s=$(calc "%.3f" "$c1 - $c0")
    shipped_gb=$(calc "%.4f" "($d1 - $d0) / 1e9")
    for i in $(seq 0 $((total - 1))); do idx+=("$i"); done
    conv=$(converged "$pdir" "$pport" ${idx[@]+"${idx[@]}"})
    local achieved p50 p99
    achieved=$(calc "%.0f" "$(json load writes_per_second <<<"$lagj")")
    p50=$(calc "%.2f" "$(json p50_us <<<"$lagj") / 1000")
    p99=$(calc "%.2f" "$(json p99_us <<<"$lagj") / 1000")
    local links=$n
    [[ $mode == cascade ]] && links=1
    local per_gb="-"
    ((links > 0)) && per_gb=$(calc "%.2f" "$cpu_s / $shipped_gb / $links")
    ROWS+=("$label|$links|$total|$achieved|$(calc "%.3f" "$cpu_s / $secs")|$per_gb|$shipped_gb|$p50|$p99|$conv|$(calc "%.3f" "($s1 - $s0) / $secs")|$(calc "%.3f" "($w1 - $w0) / $secs")|$spread")
    log "$label: cpu $cpu_s s over $secs s, $shipped_gb GB, lag p50 $p50 ms p99 $p99 ms, converged $conv"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
}

for n in $COUNTS; do
    log "$n continuous standbys at $RATE SET/s"
    run "$n" "$n"
done
log "cascade: primary -> 1 -> 15"
run "1+15" 1 cascade

# ---- SET throughput with 0 and 1 continuous standby -------------------------------
setrps() { # N_STANDBYS
    local pdir="$TMP/t$1" pport ship_flags=()
    pport=$(free_port)
    L init --data-dir "$pdir" >/dev/null
    standbys "$1" "t$1-"
    for a in ${SHIP_ADDRS[@]+"${SHIP_ADDRS[@]}"}; do ship_flags+=(--ship-to "$a" --insecure-no-auth --ship-continuous); done
    start_node "tp$1" primary --data-dir "$pdir" --listen "127.0.0.1:$pport" --fsync always \
        ${ship_flags[@]+"${ship_flags[@]}"}
    wait_ping "$pport"
    redis-benchmark -p "$pport" -t set -P 16 -c 50 -n 1000000 -r 100000 -q 2>/dev/null |
        tr '\r' '\n' | awk '/requests per second/ { v = $2 } END { print v }'
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
}
log "SET -P 16 -c 50, no standby"
T0=$(setrps 0)
log "SET -P 16 -c 50, one continuous standby"
T1=$(setrps 1)

# cores LABEL: the primary's CPU (cores) of the run labelled LABEL.
cores() {
    local r l links cps
    for r in "${ROWS[@]}"; do
        IFS='|' read -r l links _ _ cps _ <<<"$r"
        if [[ $l == "$1" ]]; then echo "$cps"; fi
    done
}
BASE=$(cores 0)
ONE=$(cores 1)
# The WAL writer's CPU with no standby: its own work (fsyncs), no links.
W0=$(for r in "${ROWS[@]}"; do
    IFS='|' read -r l _ _ _ _ _ _ _ _ _ _ wrt _ <<<"$r"
    if [[ $l == 0 ]]; then echo "$wrt"; fi
done)
cat <<EOF

## Fan-out benchmark ($(date -u +%F), $(nproc) cores; --fsync always, --ship-continuous, $RATE SET/s target, ${SECONDS_PER_RUN} s per run)

Lag ($LAG_OF standbys sampled; with none, the primary itself): "slowest" is each
sample's slowest standby (the write readable everywhere); "each standby" is the
min / median / max over the standbys of each one's own p50, and of its p99.

| standbys | links from the primary | standbys in all | SET/s achieved | primary CPU (cores) | shipper thread (cores) | WAL writer thread, sends caught-up links (cores) | shipper + writer per link beyond the writer alone (share of a core) | primary CPU-s per GB per link | GB of log | lag p50 / p99, slowest (ms) | lag p50, each standby: min / median / max (ms) | lag p99, each standby: min / median / max (ms) | all converged | whole process: each link past the first (share of a core) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
for r in "${ROWS[@]}"; do
    IFS='|' read -r l links total ach cps pgb gb p50 p99 conv shp wrt s50 s99 <<<"$r"
    extra="-"
    perlink="-"
    if [[ $links -gt 0 && -n "$W0" ]]; then perlink=$(calc "%.1f%%" "($shp + $wrt - $W0) / $links * 100"); fi
    if [[ -n "$ONE" && $links -gt 1 ]]; then extra=$(calc "%.1f%%" "($cps - $ONE) / ($links - 1) * 100"); fi
    if [[ $l == "1+15" && -n "$ONE" ]]; then extra="cascade: $(calc "%.2f" "$cps / $ONE")x the cost of 1 link"; fi
    echo "| $l | $links | $total | $ach | $cps | $shp | $wrt | $perlink | $pgb | $gb | $p50 / $p99 | $s50 | $s99 | $conv | $extra |"
done
cat <<EOF

| SET -P 16 -c 50 | requests/s | vs no standby |
|---|---|---|
| no standby | $T0 | 1.00x |
| one continuous standby | $T1 | $(calc "%.2f" "$T1 / $T0")x (target >= 0.90x) |

Primary CPU with no standby: $BASE cores (the load alone).
EOF
