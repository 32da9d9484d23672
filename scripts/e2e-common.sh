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
# boot stage passes it, with the chosen bank's BOOT PARTUUID filled in (for a `-kernel` boot).
kernel_cmdline() {
    python3 - "$1" "$2" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
print(meta["kernel-cmdline"].replace(meta["boot-partuuid-placeholder"], sys.argv[2]))
PY
}

# FIRMWARE: what qemu_boot boots with: "ovmf" (UEFI, Debian's ovmf; the default) or "seabios"
# (QEMU's default BIOS).
OVMF="${OVMF:-/usr/share/ovmf/OVMF.fd}"

# qemu_boot <serial log> <until ERE> <qemu arguments...>: boots QEMU (TCG) from FIRMWARE with the
# given disks (e.g. -drive file=os.img,format=raw,if=virtio) until a serial line matches <until>
# (the guest keeps a shell open after its ready line, so it is stopped then; 'x^' never matches),
# QEMU exits (a reset: it runs with -no-reboot), or BOOT_TIMEOUT passes. Sets BOOT_MS to the wall
# time from QEMU's start to the match or exit.
# Firmware boot: no -kernel; OVMF runs EFI-SYSTEM's boot stage, SeaBIOS the MBR's GRUB.
qemu_boot() {
    local serial="$1" until="$2" pid start firmware=()
    shift 2
    case "${FIRMWARE:-ovmf}" in
        ovmf) [[ -f "$OVMF" ]] || fail "OVMF firmware at $OVMF (apt-get install ovmf)"; firmware=(-bios "$OVMF") ;;
        seabios) ;;
        *) fail "FIRMWARE is ovmf or seabios, not '$FIRMWARE'" ;;
    esac
    : >"$serial"
    start=$(date +%s%N)
    timeout "${BOOT_TIMEOUT:-180}" qemu-system-x86_64 -accel tcg -m 1024 -nographic -no-reboot \
        "${firmware[@]}" "$@" -serial "file:$serial" -monitor none -display none \
        </dev/null >/dev/null 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        serial_log "$serial" | grep -Eq "$until" && break
        sleep 0.2
    done
    BOOT_MS=$(( ($(date +%s%N) - start) / 1000000 ))
    # Let the guest finish writing what it does right after the line (GPT attribute writes are
    # synced before the ready line is printed); SETTLE=0 stops it at once.
    sleep "${SETTLE:-1}"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# serial_log <file>: a serial log as text lines (no CRs, no firmware escape sequences' bytes).
serial_log() { tr -d '\r' <"$1" | tr -cd '\11\12\40-\176'; }

# gpt_attrs <disk> <partition number>: the partition's GPT attribute flags as 16 hex digits.
gpt_attrs() { sgdisk -i "$2" "$1" | sed -n 's/^Attribute flags: //p'; }

# gpt_clean <disk>: fails unless sgdisk -v finds both GPT copies valid.
gpt_clean() {
    local verify
    verify="$(sgdisk -v "$1")"
    grep -q "No problems found" <<<"$verify" || fail "${2:-sgdisk -v} finds both GPT copies of $1 valid" "$verify"
}

# part_number <disk> <partition name>: the GPT partition number of the partition with that name.
part_number() { sgdisk -p "$1" | awk -v n="$2" '$1 ~ /^[0-9]+$/ && $7 == n { print $1 }'; }
