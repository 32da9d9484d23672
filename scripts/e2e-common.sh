# Shared by the scripts/*-e2e.sh checks: PASS/FAIL reporting and finding the binaries.
# Source it after setting E2E_NAME (the script's name in messages).

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$(cd "${BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/debug}" && pwd)"
PASSED=0

# pass <what>: one check passed.
pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }

# fail <what> [details]: reports the failed check (with the last lines of the details) and exits 1.
fail() {
    echo "FAIL: $1" >&2
    [[ $# -gt 1 ]] && printf '%s\n' "$2" | tail -80 >&2
    echo "$E2E_NAME: $PASSED passed, 1 failed" >&2
    exit 1
}

# need_binaries <name>...: every binary must be built in $BIN_DIR.
need_binaries() {
    local b
    for b in "$@"; do
        [[ -x "$BIN_DIR/$b" ]] || { echo "$E2E_NAME: missing $BIN_DIR/$b (cargo build first)" >&2; exit 1; }
    done
}

# finish: the summary line.
finish() { echo "$E2E_NAME: $PASSED passed, 0 failed"; }
