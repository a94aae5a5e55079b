#!/usr/bin/env bash
# Long crash-torture runs: the same harness as `cargo test --test torture`
# (tests/torture.rs), with more rounds. Prints one table; exits non-zero if any
# acknowledged write was lost or a round failed.
#
# Usage: tools/torture.sh [--rounds N] [--standby-rounds N] [--seed S]
#   --rounds N           primary kill -9 rounds (default 500)
#   --standby-rounds N   standby kill -9 rounds under shipping (default rounds/10)
#   --seed S             reproduce a run (each run prints its seed)
set -euo pipefail

ROUNDS=500
STANDBY_ROUNDS=
SEED=
while (($#)); do
    case "$1" in
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
    --standby-rounds) STANDBY_ROUNDS=${2:?--standby-rounds needs a number}; shift 2 ;;
    --seed) SEED=${2:?--seed needs a number}; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "torture.sh: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
done
[[ "$ROUNDS" =~ ^[0-9]+$ ]] || { echo "torture.sh: --rounds '$ROUNDS' is not a number" >&2; exit 1; }
STANDBY_ROUNDS=${STANDBY_ROUNDS:-$(( ROUNDS / 10 > 3 ? ROUNDS / 10 : 3 ))}
[[ "$STANDBY_ROUNDS" =~ ^[0-9]+$ ]] || { echo "torture.sh: --standby-rounds '$STANDBY_ROUNDS' is not a number" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp /tmp/torture.XXXXXX)
trap 'rm -f "$OUT"' EXIT

export TORTURE_ROUNDS=$ROUNDS TORTURE_STANDBY_ROUNDS=$STANDBY_ROUNDS
[[ -n "$SEED" ]] && export TORTURE_SEED=$SEED
echo "torture.sh: $ROUNDS primary rounds, $STANDBY_ROUNDS standby rounds" >&2
status=0
(cd "$ROOT" && cargo test --release --test torture -- --nocapture --test-threads=1) >"$OUT" 2>&1 || status=$?

field() { # field LINE NAME
    tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'
}
p=$(grep '^torture: primary ' "$OUT" || true)
s=$(grep '^torture: standby ' "$OUT" || true)
printf '| run     | rounds | kills | acked writes checked | lost | torn tails repaired | result | seed |\n'
printf '|---------|-------:|------:|---------------------:|-----:|--------------------:|--------|------|\n'
if [[ -n "$p" ]]; then
    printf '| primary | %s | %s | %s | %s | %s | %s | %s |\n' "$(field "$p" rounds)" "$(field "$p" kills)" \
        "$(field "$p" acked_checked)" "$(field "$p" lost)" "$(field "$p" torn_tails_repaired)" \
        "$( [[ "$(field "$p" lost)" == 0 ]] && echo pass || echo FAIL)" "$(field "$p" seed)"
else
    printf '| primary | %s | - | - | - | - | FAIL | %s |\n' "$ROUNDS" "$(grep -o 'torture primary: seed [0-9]*' "$OUT" | awk '{print $4}')"
fi
if [[ -n "$s" ]]; then
    printf '| standby | %s | %s | digests equal at %s | - | - | pass | %s |\n' "$(field "$s" rounds)" \
        "$(field "$s" kills)" "$(field "$s" converged_lsn)" "$(field "$s" seed)"
else
    printf '| standby | %s | - | - | - | - | FAIL | %s |\n' "$STANDBY_ROUNDS" "$(grep -o 'torture standby: seed [0-9]*' "$OUT" | awk '{print $4}')"
fi
if ((status != 0)); then
    echo "torture.sh: the run failed; its output:" >&2
    grep -E 'LOST|panicked|FAILED|error' "$OUT" | head -40 >&2 || true
fi
exit "$status"
