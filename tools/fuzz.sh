#!/usr/bin/env bash
# Fuzzes logship's decoders of untrusted bytes with cargo-fuzz (libFuzzer) for a
# bounded time and prints a summary table.
#
#   tools/fuzz.sh [SECONDS]     # SECONDS per target, default 60
#
# Targets live in tools/fuzz/fuzz_targets/ (their bodies in tools/fuzz/src/lib.rs);
# FUZZ_TARGETS="wal_record ship_frame" picks some. The corpus grows in
# tools/fuzz/corpus/TARGET (seeded from tools/fuzz/seeds/TARGET), crashing inputs
# land in tools/fuzz/artifacts/TARGET and each run's libFuzzer output in
# tools/fuzz/artifacts/TARGET.log; none of these are in git. Exits 1 when a target
# crashed, naming the input and the command that replays it.
set -euo pipefail

usage() {
    echo "usage: tools/fuzz.sh [SECONDS]   (seconds per target, a positive integer; default 60)" >&2
    exit 2
}
[[ $# -le 1 ]] || usage
secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] && ((secs > 0)) || usage

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
fuzz_dir=tools/fuzz
read -r -a targets <<<"${FUZZ_TARGETS:-wal_record wal_segment ship_frame mirror_chunk resp_request effect_payload snapshot_content}"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz
fi

# Build first, so that the time budget goes to fuzzing.
cargo +nightly fuzz build --fuzz-dir "$fuzz_dir"

count_artifacts() {
    find "$fuzz_dir/artifacts/$1" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | sort
}

rows=()
found=()
for t in "${targets[@]}"; do
    mkdir -p "$fuzz_dir/corpus/$t" "$fuzz_dir/artifacts/$t"
    log="$fuzz_dir/artifacts/$t.log"
    before=$(count_artifacts "$t")
    seeds=()
    [[ -d $fuzz_dir/seeds/$t ]] && seeds=("$fuzz_dir/seeds/$t")
    echo "fuzz.sh: $t for ${secs}s (log: $log)" >&2
    start=$(date +%s)
    rc=0
    # libFuzzer stops itself after max_total_time and reports a unit slower than
    # -timeout; the outer timeout only guards against libFuzzer itself hanging
    # (with room for `cargo fuzz run` rebuilding if the sources changed meanwhile).
    timeout --kill-after=10 $((secs + 600)) \
        cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$t" "$fuzz_dir/corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?
    elapsed=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    if [[ -z $runs ]]; then
        runs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    new=$(comm -13 <(printf '%s\n' "$before") <(count_artifacts "$t") | sed '/^$/d')
    crashes=$(printf '%s' "$new" | grep -c . || true)
    status=ok
    if ((crashes > 0)); then
        status=crash
        while IFS= read -r a; do found+=("$t $a"); done <<<"$new"
    elif ((rc != 0)); then
        status="exit $rc"
    fi
    rows+=("$(printf '%-16s %8s %12s %8s  %s' "$t" "$elapsed" "${runs:-?}" "$crashes" "$status")")
done

echo
printf '%-16s %8s %12s %8s  %s\n' target seconds runs crashes status
for r in "${rows[@]}"; do echo "$r"; done

failed=0
for r in "${rows[@]}"; do [[ $r == *"  ok" ]] || failed=1; done
if ((${#found[@]} > 0)); then
    echo
    echo "crashing inputs (replay one with: cargo +nightly fuzz run --fuzz-dir $fuzz_dir TARGET INPUT):"
    for f in "${found[@]}"; do echo "  $f"; done
fi
exit "$failed"
