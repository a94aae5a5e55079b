#!/usr/bin/env bash
# Regenerates the `--help` sections of the command reference (docs/reference/) from
# the binary, so that the reference cannot drift from the clap definitions.
#
#   tools/gen-cli-reference.sh [BINARY]      # default: target/debug/logship
#
# docs/reference/CMD.md gets one page per visible command (README.md for `logship`
# itself). Everything from the line `## Command-line help` to the end of a page is
# replaced by the `--help` of the command and of its subcommands (trailing spaces
# dropped); the text above it is kept (a missing page is created with a title). tests/cli_reference_doc.rs checks
# the result against the binary. Not run by CI.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${1:-target/debug/logship}
DIR=docs/reference
MARK='## Command-line help'

if [ ! -x "$BIN" ]; then
    echo "gen-cli-reference: $BIN is not an executable; run cargo build first" >&2
    exit 1
fi
mkdir -p "$DIR"

# The visible subcommands of `logship ARGS...` (clap's "Commands:" list, less `help`).
subcommands() {
    "$BIN" "$@" --help | awk '
        /^Commands:/ { on = 1; next }
        on && /^[^ ]/ { on = 0 }
        on && /^  [a-z]/ { if ($1 != "help") print $1 }'
}

# The generated section for `logship ARGS...` and its subcommands.
help_section() {
    local args=("$@")
    printf '%s\n\n' "$MARK"
    printf 'Generated from the binary by `tools/gen-cli-reference.sh`; `tests/cli_reference_doc.rs`\n'
    printf 'checks it.\n'
    local paths=("${args[*]-}")
    if [ ${#args[@]} -gt 0 ]; then
        local sub
        for sub in $(subcommands "${args[@]}"); do
            paths+=("${args[*]} $sub")
        done
    fi
    local p
    for p in "${paths[@]}"; do
        # shellcheck disable=SC2086 # $p is a command path: split it on purpose
        printf '\n### `%s --help`\n\n```text\n' "logship${p:+ $p}"
        "$BIN" $p --help | sed 's/[[:space:]]*$//'
        printf '```\n'
    done
}

# Replaces the generated section of PAGE (TITLE if the page is new).
write_page() {
    local page=$1 title=$2
    shift 2
    local tmp
    tmp=$(mktemp)
    if [ -f "$page" ]; then
        # The text above the mark, less trailing blank lines, then one blank line.
        awk -v mark="$MARK" '
            $0 == mark { exit }
            { line[++n] = $0; if ($0 != "") last = n }
            END { for (i = 1; i <= last; i++) print line[i]; print "" }' "$page" >"$tmp"
    else
        printf '# %s\n\n' "$title" >"$tmp"
    fi
    help_section "$@" >>"$tmp"
    mv "$tmp" "$page"
    echo "gen-cli-reference: $page"
}

write_page "$DIR/README.md" "Command reference"
for cmd in $(subcommands); do
    write_page "$DIR/$cmd.md" "\`logship $cmd\`" "$cmd"
done
