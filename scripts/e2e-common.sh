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

# partition_info <artifact metadata .json> <partition name>: prints "<start-mib> <size-mib>
# <partuuid>" of that partition of the OS disk.
partition_info() {
    python3 - "$1" "$2" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
part = next(p for p in meta["disks"][0]["partitions"] if p["name"] == sys.argv[2])
print(part["start-mib"], part["size-mib"], part["partuuid"].lower())
PY
}

# kernel_cmdline <artifact metadata .json> <BOOT partuuid>: the image's kernel command line as the
# boot stage passes it, with the chosen bank's BOOT PARTUUID filled in.
kernel_cmdline() {
    python3 - "$1" "$2" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
print(meta["kernel-cmdline"].replace(meta["boot-partuuid-placeholder"], sys.argv[2]))
PY
}

# qemu_boot <disk> <vmlinuz> <cmdline> <serial log> [ready line]: boots the raw disk in QEMU (TCG,
# direct kernel boot) until the guest stops, BOOT_TIMEOUT passes, or the ready line appears in
# the serial log (the guest keeps a shell open after it, so it is stopped then).
qemu_boot() {
    local disk="$1" kernel="$2" cmdline="$3" serial="$4" ready="${5:-}" pid
    : >"$serial"
    timeout "${BOOT_TIMEOUT:-180}" qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
        -kernel "$kernel" -append "$cmdline" \
        -drive "file=$disk,format=raw,if=virtio" \
        -serial "file:$serial" -monitor none -display none </dev/null >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq "${BOOT_TIMEOUT:-180}"); do
        [[ -n "$ready" ]] && grep -q "$ready" "$serial" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    # Let the guest finish writing what it does right after the ready line (GPT attribute
    # writes are synced before it is printed).
    sleep 1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
