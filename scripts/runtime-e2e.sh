#!/usr/bin/env bash
# End-to-end check of the settings API's local main job with the real binaries:
# storewolf -> apiserver -> apiclient -> thar-be-settings.
# Uses only bash, coreutils, grep and stat.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FIXTURES="$SCRIPT_DIR/runtime-e2e"
E2E_NAME=runtime-e2e
. "$SCRIPT_DIR/e2e-common.sh"
need_binaries storewolf apiserver apiclient thar-be-settings

WORK="$(mktemp -d /tmp/runtime-e2e.XXXXXX)"
APISERVER_PID=""
stop_apiserver() {
    if [[ -n "$APISERVER_PID" ]]; then
        kill "$APISERVER_PID" 2>/dev/null || true
        wait "$APISERVER_PID" 2>/dev/null || true
        APISERVER_PID=""
    fi
}
cleanup() { stop_apiserver; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

BASE="$WORK/datastore"
DEFAULTS="$WORK/defaults.d"
ROOT="$WORK/root"
TEMPLATES="$WORK/templates"
SOCK="$WORK/api.sock"
LOG="$WORK/apiserver.log"
mkdir -p "$DEFAULTS" "$ROOT" "$TEMPLATES"
cp "$FIXTURES/motd.template" "$TEMPLATES/motd.template"
while IFS= read -r line; do
    printf '%s\n' "${line//@TEMPLATE_DIR@/$TEMPLATES}"
done < "$FIXTURES/defaults.toml" > "$DEFAULTS/10-motd.toml"


api() { timeout 20 "$BIN_DIR/apiclient" -s "$SOCK" "$@"; }

run_storewolf() {
    timeout 30 "$BIN_DIR/storewolf" --data-store-base-path "$BASE" --version 1.0.0 \
        --defaults-dir "$DEFAULTS"
}

start_apiserver() {
    rm -f "$SOCK"
    "$BIN_DIR/apiserver" --datastore-path "$BASE/current" --socket-path "$SOCK" \
        --apply-command "$BIN_DIR/thar-be-settings --datastore-path $BASE/current --root $ROOT" \
        >>"$LOG" 2>&1 &
    APISERVER_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -S "$SOCK" ]] && return 0
        kill -0 "$APISERVER_PID" 2>/dev/null || { cat "$LOG" >&2; return 1; }
        sleep 0.1
    done
    echo "apiserver socket did not appear within 10s" >&2
    cat "$LOG" >&2
    return 1
}

# The file is rendered by the apply command after the API call returns or before; wait a bit.
wait_for_content() { # file expected
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -f "$1" ]] && grep -qx -- "$2" "$1" && return 0
        sleep 0.1
    done
    return 1
}

if [[ "$(printf ' %q' "$BIN_DIR" "$BASE" "$ROOT")" != " $BIN_DIR $BASE $ROOT" ]]; then
    echo "runtime-e2e: paths must not contain spaces or special characters" >&2
    exit 1
fi

# 1. storewolf creates the datastore
out="$(run_storewolf 2>&1)" || fail "storewolf creates the datastore" "$out"
[[ -e "$BASE/current" ]] || fail "storewolf creates the datastore" "no $BASE/current"
pass "storewolf creates the datastore"

# 2. apiserver starts and creates its socket
start_apiserver || fail "apiserver socket appears"
pass "apiserver socket appears"

# 3. socket mode 660
mode="$(stat -c %a "$SOCK")"
[[ "$mode" == 660 ]] || fail "socket mode is 660" "got $mode"
pass "socket mode is 660"

# 4. default value
out="$(api get settings.motd 2>&1)" || fail "get settings.motd shows default" "$out"
grep -q '"welcome"' <<<"$out" || fail "get settings.motd shows default" "$out"
pass "get settings.motd shows \"welcome\""

# 5. set motd=hi renders the file
out="$(api set motd=hi 2>&1)" || fail "set motd=hi succeeds" "$out"
pass "set motd=hi succeeds"
MOTD="$ROOT/etc/motd"
wait_for_content "$MOTD" hi || fail "rendered $MOTD contains hi" "$(cat "$MOTD" 2>&1; cat "$LOG")"
pass "rendered <root>/etc/motd contains hi"
mode="$(stat -c %a "$MOTD")"
[[ "$mode" == 644 ]] || fail "rendered file mode is 644" "got $mode"
pass "rendered file mode is 644"

# 6. get shows hi
out="$(api get settings.motd 2>&1)" || fail "get shows hi" "$out"
grep -q '"hi"' <<<"$out" || fail "get shows hi" "$out"
pass "get settings.motd shows \"hi\""

# 7. invalid setting is rejected, naming the key, value unchanged
if out="$(api set kubernetes.max-pods=notanumber 2>&1)"; then
    fail "invalid setting is rejected" "exit 0: $out"
fi
grep -q 'max-pods' <<<"$out" || fail "invalid setting error names the key" "$out"
pass "invalid kubernetes.max-pods rejected with non-zero exit naming the key"
out="$(api get settings.motd 2>&1)" || fail "motd still hi after invalid set" "$out"
grep -q '"hi"' <<<"$out" || fail "motd still hi after invalid set" "$out"
grep -qx hi "$MOTD" || fail "rendered file still hi after invalid set" "$(cat "$MOTD")"
pass "motd still hi after invalid set"

# 8. second storewolf run keeps the user's value
stop_apiserver
out="$(run_storewolf 2>&1)" || fail "second storewolf run succeeds" "$out"
pass "second storewolf run succeeds"
start_apiserver || fail "apiserver restarts"
out="$(api get settings.motd 2>&1)" || fail "motd still hi after second storewolf" "$out"
grep -q '"hi"' <<<"$out" || fail "motd still hi after second storewolf" "$out"
pass "second storewolf run does not overwrite motd (still hi after apiserver restart)"

# 9. apiclient apply
out="$(api apply "$FIXTURES/apply.toml" 2>&1)" || fail "apiclient apply succeeds" "$out"
wait_for_content "$MOTD" from-apply || fail "apply renders from-apply" "$(cat "$MOTD"; cat "$LOG")"
out="$(api get settings.motd 2>&1)" || fail "get shows from-apply" "$out"
grep -q '"from-apply"' <<<"$out" || fail "get shows from-apply" "$out"
pass "apiclient apply renders \"from-apply\""

finish
