# Shared by the benchmark scripts (bench-repo.sh, bench-publish.sh): check counters and the
# on-demand install of the reference tools. Source it after setting NAME and TOOLS_DIR.

PASSED=0
FAILED=0
SKIPPED=0
pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
# check_fail <what> [details]: a failed check; the run goes on and exits 1 at the end.
check_fail() {
    echo "FAIL: $1" >&2
    [[ $# -gt 1 ]] && printf '%s\n' "$2" | tail -40 | sed 's/^/    /' >&2
    FAILED=$((FAILED + 1))
}
skip() { echo "SKIP: $1"; SKIPPED=$((SKIPPED + 1)); }
# die <what> [details]: a setup step failed; nothing more can be measured.
die() {
    echo "FAIL: $1" >&2
    [[ $# -gt 1 ]] && printf '%s\n' "$2" | tail -40 | sed 's/^/    /' >&2
    echo "$NAME: $PASSED passed, $((FAILED + 1)) failed" >&2
    exit 1
}
note() { echo "---- $*"; }

# reference_tool <crate> <given binary or ""> <version or "">: sets REFERENCE_BIN to the given
# binary, or to $TOOLS_DIR/bin/<crate>, installing it there with `cargo install --locked` first
# (once: 15-30 minutes on 2 cores; concurrent runs wait for one install).
reference_tool() {
    local crate="$1" given="$2" version="$3"
    REFERENCE_BIN="${given:-$TOOLS_DIR/bin/$crate}"
    [[ -x "$REFERENCE_BIN" ]] && return 0
    [[ -z "$given" ]] || die "no $crate at $given"
    mkdir -p "$TOOLS_DIR"
    local log="$TOOLS_DIR/$crate-install.log"
    note "installing $crate into $TOOLS_DIR (once; 15-30 minutes on 2 cores; log: $log)"
    (
        flock 9
        if [[ ! -x "$REFERENCE_BIN" ]]; then
            CARGO_TARGET_DIR="$TOOLS_DIR/target" nice cargo install "$crate" --locked \
                ${version:+--version "$version"} --root "$TOOLS_DIR" >"$log" 2>&1
        fi
    ) 9>"$TOOLS_DIR/.install.lock" || die "cargo install $crate" "$(cat "$log" 2>/dev/null)"
    [[ -x "$REFERENCE_BIN" ]] || die "cargo install $crate left no $REFERENCE_BIN"
}

# check_ratio <ours s> <reference s> <what> <reference name>: prints ours/reference and checks it
# against MAX_RATIO.
check_ratio() {
    local ratio
    ratio="$(python3 -c "print(f'{$1 / max($2, 1e-9):.2f}')")"
    echo "ratio (ours/$4): $ratio   (target <= $MAX_RATIO)"
    if python3 -c "import sys; sys.exit(not $ratio <= $MAX_RATIO)"; then
        pass "$3 takes ${ratio}x $4's time (<= $MAX_RATIO)"
    else
        check_fail "$3 takes ${ratio}x $4's time (> $MAX_RATIO)"
    fi
}
