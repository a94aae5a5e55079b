#!/usr/bin/env bash
# Benchmarks the WAL (`logship bench wal`, `logship verify`) next to fio on the same disk
# in the same run, and prints a markdown table of each target, the measured figure and
# the ratios. Usage: tools/bench-wal.sh [DIR]   (default: target/bench-wal)
#
# Record counts can be changed through the environment: SMALL_RECORDS (100-byte rows with
# `never`), LARGE_RECORDS (64 KiB rows; 16384 = a 1 GiB log), ALWAYS1_RECORDS,
# ALWAYS64_RECORDS.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${1:-$ROOT/target/bench-wal}
SMALL_RECORDS=${SMALL_RECORDS:-4000000}
LARGE_RECORDS=${LARGE_RECORDS:-16384}
ALWAYS1_RECORDS=${ALWAYS1_RECORDS:-5000}
ALWAYS64_RECORDS=${ALWAYS64_RECORDS:-100000}

say() { printf '%s\n' "$*" >&2; }

# --- Tools --------------------------------------------------------------------------
if ! command -v fio >/dev/null 2>&1; then
    say "installing fio"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    ${sudo[@]+"${sudo[@]}"} apt-get update -qq </dev/null
    ${sudo[@]+"${sudo[@]}"} apt-get install -y -qq fio </dev/null
fi
say "building the release binary"
cargo build --release --quiet --bin logship
BIN=$ROOT/target/release/logship

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
trap 'rm -rf "$DIR/log" "$DIR/fio"; rmdir "$DIR" 2>/dev/null || true' EXIT

# A numeric field of a flat JSON object: json_field JSON NAME
json_field() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" <<<"$1"; }
# awk arithmetic: calc 'EXPR'
calc() { awk "BEGIN { printf \"%s\", $1 }"; }
fmt0() { printf '%.0f' "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
settle() { sync; sleep 1; }

bench() { # bench ARGS... -> JSON report on stdout; the log stays in $DIR/log
    rm -rf "$DIR/log"
    "$BIN" bench wal --dir "$DIR/log" --json "$@"
}

run_fio() { # run_fio NAME ARGS... -> terse line
    rm -rf "$DIR/fio"
    mkdir -p "$DIR/fio"
    fio --name="$1" --directory="$DIR/fio" --output-format=terse "${@:2}" 2>/dev/null | tail -n 1
    rm -rf "$DIR/fio"
}

say "disk: $(df -h "$DIR" | awk 'NR == 2 { print $1 " (" $2 ", mounted on " $6 ")" }')"

# --- fio baselines ------------------------------------------------------------------------
settle
say "fio: 4 KiB writes, fdatasync after each"
FIO_SYNC=$(run_fio fsync --rw=write --bs=4k --size=32m --fdatasync=1)
FIO_SYNC_IOPS=$(cut -d';' -f49 <<<"$FIO_SYNC")
settle
say "fio: 1 MiB sequential writes, 1 GiB, fsync at the end"
FIO_SEQ=$(run_fio seq --rw=write --bs=1m --size=1g --end_fsync=1)
FIO_SEQ_MBS=$(calc "$(cut -d';' -f48 <<<"$FIO_SEQ") * 1024 / 1e6")
settle
say "fio: 1 MiB sequential reads, 1 GiB, page cache invalidated first"
FIO_READ=$(run_fio read --rw=read --bs=1m --size=1g --invalidate=1)
FIO_READ_MBS=$(calc "$(cut -d';' -f7 <<<"$FIO_READ") * 1024 / 1e6")

# --- logship rows -------------------------------------------------------------------------
settle
say "logship: $SMALL_RECORDS x 100 B, never, 2 writers, pipeline 256"
R1=$(bench --records "$SMALL_RECORDS" --record-bytes 100 --sync never --writers 2 --pipeline 256)
R1_RPS=$(json_field "$R1" records_per_second)
rm -rf "$DIR/log"

settle
say "logship: $LARGE_RECORDS x 64 KiB, never, 1 writer"
R2=$(bench --records "$LARGE_RECORDS" --record-bytes 64KiB --sync never --writers 1 --pipeline 16)
R2_MBS=$(json_field "$R2" payload_mb_per_second)
LOG_BYTES=$(du -sb "$DIR/log" | cut -f1)

settle
say "logship: verify the 64 KiB log, warm"
V_WARM=$("$BIN" verify --json "$DIR/log")
V_WARM_MBS=$(json_field "$V_WARM" mb_per_second)
V_BYTES=$(json_field "$V_WARM" bytes)
V_COLD_MBS=""
if [ "$(id -u)" -eq 0 ] && (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    say "logship: verify the 64 KiB log, cold (page cache dropped)"
    V_COLD=$("$BIN" verify --json "$DIR/log")
    V_COLD_MBS=$(json_field "$V_COLD" mb_per_second)
fi
rm -rf "$DIR/log"

settle
say "logship: $ALWAYS1_RECORDS x 100 B, always, 1 writer"
R3=$(bench --records "$ALWAYS1_RECORDS" --record-bytes 100 --sync always --writers 1)
R3_RPS=$(json_field "$R3" records_per_second)
R3_FSYNCS=$(json_field "$R3" fsyncs)
rm -rf "$DIR/log"

settle
say "logship: $ALWAYS64_RECORDS x 100 B, always, 64 writers"
R4=$(bench --records "$ALWAYS64_RECORDS" --record-bytes 100 --sync always --writers 64)
R4_RPS=$(json_field "$R4" records_per_second)
R4_FSYNCS=$(json_field "$R4" fsyncs)
R4_BATCH=$(json_field "$R4" avg_batch_records)
R4_SECS=$(json_field "$R4" elapsed_seconds)
rm -rf "$DIR/log"

# --- Table ------------------------------------------------------------------------------
T3=$(calc "0.8 * $FIO_SYNC_IOPS")
C4=$(calc "64 * $FIO_SYNC_IOPS")
cat <<TABLE

## WAL benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r))

fio on the same disk: 4 KiB writes with fdatasync each = **$(fmt0 "$FIO_SYNC_IOPS") IOPS**;
1 MiB sequential writes (1 GiB, fsync at end) = **$(fmt0 "$FIO_SEQ_MBS") MB/s**;
1 MiB sequential reads (cold) = **$(fmt0 "$FIO_READ_MBS") MB/s**. MB = 10^6 bytes.

| workload | target | logship | vs target | fio baseline | vs fio |
| --- | --- | ---: | ---: | --- | ---: |
| 100 B records, \`never\`, 2 writers, pipeline 256 | ≥ 2,000,000 rec/s | $(fmt0 "$R1_RPS") rec/s | $(ratio "$R1_RPS" 2000000) | — | — |
| 64 KiB records, \`never\`, 1 writer, pipeline 16 | ≥ 1,000 MB/s | $(fmt0 "$R2_MBS") MB/s | $(ratio "$R2_MBS" 1000) | seq write 1 MiB: $(fmt0 "$FIO_SEQ_MBS") MB/s | $(ratio "$R2_MBS" "$FIO_SEQ_MBS") |
| 100 B records, \`always\`, 1 writer ($(fmt0 "$R3_FSYNCS") fsyncs) | ≥ 0.8 × fio fdatasync = $(fmt0 "$T3") rec/s | $(fmt0 "$R3_RPS") rec/s | $(ratio "$R3_RPS" "$T3") | fdatasync: $(fmt0 "$FIO_SYNC_IOPS")/s | $(ratio "$R3_RPS" "$FIO_SYNC_IOPS") |
| 100 B records, \`always\`, 64 writers ($(fmt0 "$R4_FSYNCS") fsyncs, $(printf '%.1f' "$R4_BATCH") rec/batch, $(printf '%.1f' "$R4_SECS") s) | ≥ 200,000 rec/s | $(fmt0 "$R4_RPS") rec/s | $(ratio "$R4_RPS" 200000) | 64 × fdatasync = $(fmt0 "$C4") rec/s (group-commit ceiling) | $(ratio "$R4_RPS" "$C4") |
| \`logship verify\`, $(calc "$V_BYTES / 1073741824" | awk '{ printf "%.2f", $1 }') GiB log (the 64 KiB row's), warm | ≥ 1,000 MB/s | $(fmt0 "$V_WARM_MBS") MB/s | $(ratio "$V_WARM_MBS" 1000) | — | — |
TABLE
if [ -n "$V_COLD_MBS" ]; then
    echo "| \`logship verify\`, same log, cold (page cache dropped) | ≥ 1,000 MB/s | $(fmt0 "$V_COLD_MBS") MB/s | $(ratio "$V_COLD_MBS" 1000) | seq read 1 MiB, cold: $(fmt0 "$FIO_READ_MBS") MB/s | $(ratio "$V_COLD_MBS" "$FIO_READ_MBS") |"
else
    echo "| \`logship verify\`, cold | ≥ 1,000 MB/s | skipped: dropping the page cache needs root | — | — | — |"
fi
echo
echo "Log on disk for the 64 KiB row: $LOG_BYTES bytes. Directory: $DIR"
