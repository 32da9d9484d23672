#!/usr/bin/env bash
# End-to-end OS update with the real parts: metal-dev 0.1.0 and 0.2.0 built by twoliter; a TUF
# repository holding 0.2.0's boot/root/hash images, manifest.json and a migration, signed by
# python-tuf (an independent TUF implementation) and served over HTTP on 127.0.0.1 by a slow
# mirror; storewolf + apiserver + apiclient driving the real updog against the 0.1.0 disk image
# (DESIGN §5 state machine, 404/409/423); bank B's bytes compared with the payloads; then QEMU
# boots the disk from firmware (OVMF, no -kernel) and the boot stage picks bank B by its try and
# starts 0.2.0, whose init marks the boot successful; a trial boot cut off before it is marked falls
# back to A on the next firmware boot by itself.
# Also `twoliter repo init` + `create` sign the same release; python-tuf and updog accept it.
# Needs: qemu-system-x86_64, ovmf, sgdisk (gdisk), lz4, debugfs (e2fsprogs), python3 with tuf + securesystemslib[crypto]
# (pip), and what boot-e2e.sh needs.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FIXTURES="$SCRIPT_DIR/update-e2e"
E2E_NAME=update-e2e
. "$SCRIPT_DIR/e2e-common.sh"
need_binaries twoliter updog apiserver apiclient storewolf signpost
TWOLITER="$BIN_DIR/twoliter"
export TWOLITER_CACHE_DIR="${TWOLITER_CACHE_DIR:-/var/tmp/twoliter-e2e-cache}"
export BOOT_TIMEOUT="${BOOT_TIMEOUT:-180}"

WORK="$(mktemp -d /var/tmp/update-e2e.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tl() { "$TWOLITER" --project-path "$REPO" "$@"; }
images="$REPO/build/images/$(uname -m)-metal-dev"
arch="$(uname -m)"

# ---------------------------------------------------------------- two versions
build_version() { # <version>: builds metal-dev at that version, sets $dir and $meta
    local out
    out="$(tl build variant metal-dev --release-version "$1" 2>&1)" || fail "build metal-dev $1" "$out"
    dir="$(readlink -f "$images/latest")"
    meta="$(ls "$dir"/bottlerocket-metal-dev-*.json | head -1)"
    [[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$meta")" == "$1" ]] \
        || fail "latest points at metal-dev $1" "$(ls -l "$images")"
}
start=$(date +%s)
build_version 0.1.0
v1_dir="$dir" v1_meta="$meta"
build_version 0.2.0
v2_dir="$dir" v2_meta="$meta"
pass "metal-dev 0.1.0 and 0.2.0 built ($(( $(date +%s) - start )) s; packages shared)"

payload() { ls "$v2_dir"/bottlerocket-metal-dev-*"$1" | head -1; }
boot_lz4="$(payload -boot.ext4.lz4)"
root_lz4="$(payload -root.ext4.lz4)"
hash_lz4="$(payload -root.verity.lz4)"
os_lz4="$(ls "$v1_dir"/bottlerocket-metal-dev-*.img.lz4 | grep -v -- '-data.img.lz4' | head -1)"
lz4 -d -q "$os_lz4" "$WORK/os.img"
export SIGNPOST_DISK="$WORK/os.img"

# The running host's os-release, read out of 0.1.0's root filesystem.
lz4 -d -q "$(ls "$v1_dir"/bottlerocket-metal-dev-*-root.ext4.lz4 | head -1)" "$WORK/root-v1.ext4"
debugfs -R "cat /etc/os-release" "$WORK/root-v1.ext4" 2>/dev/null >"$WORK/os-release"
grep -q '^VERSION_ID=0.1.0$' "$WORK/os-release" || fail "0.1.0's os-release" "$(cat "$WORK/os-release")"

# ---------------------------------------------------------------- the signed repository
mkdir -p "$WORK/in"
printf '#!/bin/sh\n# e2e migration: no changes\nexit 0\n' | lz4 -q -z - "$WORK/in/migrate_v0.2.0_e2e-noop.lz4"
python3 - "$WORK/in/manifest.json" "$arch" "$boot_lz4" "$root_lz4" "$hash_lz4" <<'PY'
import datetime, json, os, sys
out, arch, boot, root, hash_ = sys.argv[1:]
started = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
name = os.path.basename
manifest = {
    "updates": [
        {"variant": "metal-dev", "arch": arch, "version": "0.2.0", "max_version": "0.2.0",
         "waves": {"1024": started, "2047": later},
         "images": {"boot": name(boot), "root": name(root), "hash": name(hash_)}},
        {"variant": "aws-k8s-1.31", "arch": arch, "version": "9.9.9", "max_version": "9.9.9",
         "waves": {}, "images": {"boot": name(boot), "root": name(root), "hash": name(hash_)}},
    ],
    "migrations": {"(0.1.0, 0.2.0)": ["migrate_v0.2.0_e2e-noop.lz4"]},
}
json.dump(manifest, open(out, "w"), indent=2)
PY
out="$(python3 "$FIXTURES/make_repo.py" "$WORK/repo" "$WORK/in/manifest.json" \
    "$WORK/in/migrate_v0.2.0_e2e-noop.lz4" "$boot_lz4" "$root_lz4" "$hash_lz4" 2>&1)" \
    || fail "python-tuf signs the repository" "$out"
python3 "$FIXTURES/serve.py" "$WORK/repo" "$WORK/port" --delay-targets 1 2>"$WORK/serve.log" &
PIDS+=($!)
for _ in $(seq 50); do [[ -s "$WORK/port" ]] && break; sleep 0.1; done
port="$(cat "$WORK/port")"
pass "python-tuf signed 0.2.0's images, manifest.json and a migration; served on 127.0.0.1:$port"

cat >"$WORK/updog.toml" <<EOF
metadata_base_url = "http://127.0.0.1:$port/metadata"
targets_base_url = "http://127.0.0.1:$port/targets"
seed = 42
version_lock = "latest"
ignore_waves = false
EOF
UPDOG="$BIN_DIR/updog --config $WORK/updog.toml --root-json $WORK/repo/root.json --os-release $WORK/os-release --metadata-dir $WORK/updog/metadata --migrations-dir $WORK/migrations"

# ---------------------------------------------------------------- the host API
mkdir -p "$WORK/defaults.d"
printf '[settings]\nmotd = "update e2e"\n' >"$WORK/defaults.d/10-motd.toml"
out="$(timeout 30 "$BIN_DIR/storewolf" --data-store-base-path "$WORK/datastore" --version 0.1.0 \
    --defaults-dir "$WORK/defaults.d" 2>&1)" || fail "storewolf creates the datastore" "$out"
SOCK="$WORK/api.sock"
"$BIN_DIR/apiserver" --datastore-path "$WORK/datastore/current" --socket-path "$SOCK" \
    --apply-command true --os-release-path "$WORK/os-release" \
    --updog-command "$UPDOG" --update-status-path "$WORK/status/status.json" \
    >"$WORK/apiserver.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -S "$SOCK" ]] && break; sleep 0.1; done
[[ -S "$SOCK" ]] || fail "apiserver starts" "$(cat "$WORK/apiserver.log")"
api() { timeout "${API_TIMEOUT:-120}" "$BIN_DIR/apiclient" -s "$SOCK" "$@"; }
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k] if v is not None else None
print(v)' "$1"; }
bank() { # <bank> <field>: from signpost status --json
    "$BIN_DIR/signpost" status --json | python3 -c 'import json,sys
s=json.load(sys.stdin); b=next(b for b in s["banks"] if b["bank"]==sys.argv[1]); print(b[sys.argv[2]])' "$1" "$2"
}

if out="$(api raw -u /updates/status 2>&1)"; then fail "GET /updates/status is 404 before a refresh" "$out"; fi
grep -q 404 <<<"$out" || fail "GET /updates/status is 404 before a refresh" "$out"
if out="$(api raw -m POST -u /actions/activate-update 2>&1)"; then fail "activate from Idle is refused" "$out"; fi
grep -q 409 <<<"$out" || fail "activate from Idle is 409" "$out"
pass "before a refresh: status 404, activate-update 409"

status="$(api update check 2>&1)" || fail "apiclient update check" "$status"
[[ "$(field update_state <<<"$status")" == Available && "$(field chosen_update.version <<<"$status")" == 0.2.0 ]] \
    || fail "refresh finds 0.2.0 (the foreign variant's 9.9.9 is not offered)" "$status"
grep -q 9.9.9 <<<"$status" && fail "the foreign variant's update is not offered" "$status"
pass "apiclient update check: Available, chosen 0.2.0 (wave for seed 42 started; foreign variant ignored)"

if out="$(api raw -m POST -u /actions/deactivate-update 2>&1)"; then fail "deactivate from Available is refused" "$out"; fi
grep -q 409 <<<"$out" || fail "deactivate from Available is 409" "$out"
api raw -m POST -u /actions/prepare-update >/dev/null || fail "prepare-update accepted"
if out="$(api raw -u /updates/status 2>&1)"; then fail "status is locked while updog writes" "$out"; fi
grep -q 423 <<<"$out" || fail "status is 423 while updog writes" "$out"
if out="$(api raw -m POST -u /actions/refresh-updates 2>&1)"; then fail "actions are locked while updog writes" "$out"; fi
grep -q 423 <<<"$out" || fail "refresh is 423 while updog writes" "$out"
out="$(api get settings.motd 2>&1)" && grep -q 'update e2e' <<<"$out" || fail "settings still answer while updog writes" "$out"
pass "prepare-update: 423 on status and actions while updog downloads, settings still served"

for _ in $(seq 600); do
    out="$(api raw -u /updates/status 2>/dev/null)" && break
    sleep 0.2
done
[[ "$(field update_state <<<"$out")" == Staged ]] || fail "prepare reaches Staged" "$out$(cat "$WORK/apiserver.log")"
[[ "$(bank B priority)" == 0 ]] || fail "a staged (not activated) bank B stays not bootable" "$("$BIN_DIR/signpost" status)"

# Bank B now holds exactly 0.2.0's images.
for part in BOOT:"$boot_lz4" ROOT:"$root_lz4" HASH:"$hash_lz4"; do
    read -r start_mib size_mib _ < <(partition_info "$v1_meta" "BOTTLEROCKET-${part%%:*}-B")
    lz4 -d -q -c "${part#*:}" >"$WORK/payload"
    size="$(stat -c %s "$WORK/payload")"
    (( size <= size_mib * 1048576 )) || fail "${part%%:*} payload fits its partition"
    cmp -n "$size" "$WORK/payload" <(dd if="$WORK/os.img" bs=1M skip="$start_mib" count="$size_mib" status=none) \
        || fail "bank B's ${part%%:*} partition holds 0.2.0's image"
done
rm -f "$WORK/payload"
[[ -s "$(ls "$WORK"/migrations/migrate_v0.2.0_e2e-noop.lz4 2>/dev/null)" ]] \
    || fail "updog cached the migration" "$(ls -R "$WORK/migrations" 2>&1)"
pass "Staged: bank B's BOOT, ROOT and HASH are byte-identical to 0.2.0's images; migration cached; B not bootable yet"

out="$(api update apply 2>&1)" || fail "apiclient update apply" "$out"
status="$(api raw -u /updates/status)"
[[ "$(field update_state <<<"$status")" == Ready && "$(field staging_partition.next_to_boot <<<"$status")" == True ]] \
    || fail "activate reaches Ready with bank B next" "$status"
[[ "$(bank B priority)/$(bank B tries_left)/$(bank B successful)" == 2/1/False ]] \
    && [[ "$(bank A priority)/$(bank A successful)" == 1/True ]] \
    || fail "B priority 2 tries 1, A priority 1 successful" "$("$BIN_DIR/signpost" status)"
out="$(api update cancel 2>&1)" || fail "apiclient update cancel" "$out"
[[ "$(field update_state <<<"$(api raw -u /updates/status)")" == Staged && "$(bank B priority)" == 0 ]] \
    || fail "cancel goes back to Staged, B not next" "$("$BIN_DIR/signpost" status)"
out="$(api update apply --check 2>&1)" || fail "apiclient update apply --check" "$out$(cat "$WORK/apiserver.log")"
[[ "$(field update_state <<<"$(api raw -u /updates/status)")" == Ready && "$(bank B priority)" == 2 ]] \
    || fail "apply --check reaches Ready again" "$out"
pass "Staged → Ready (B priority 2, 1 try; A priority 1, successful) → cancel → Staged → apply --check → Ready"

# ---------------------------------------------------------------- our publisher, our client
# `twoliter repo init` + `create` sign the same 0.2.0 release with tough; python-tuf downloads
# every target and updog picks 0.2.0 from it.
mkdir -p "$WORK/infra"
printf '%s\n' '[repo.e2e]' 'root_role_path = "roles/root.json"' \
    'root_keys = { file = { path = "keys/root.pem" } }' \
    'signing_keys = { file = { path = "keys/publish.pem" } }' \
    "metadata_base_url = \"file://$WORK/published/metadata/\"" \
    "targets_url = \"file://$WORK/published/targets/\"" >"$WORK/infra/Infra.toml"
tlr() { tl repo "$@" --repo e2e --infra-config-path "$WORK/infra/Infra.toml"; }
out="$(tlr init --key-type ed25519 2>&1)" || fail "twoliter repo init" "$out"
started="$(date -u -d '8 days ago' +%Y-%m-%dT%H:%M:%SZ)"
out="$(tlr create --variant metal-dev --release-start-time "$started" --json 2>"$WORK/create.err")" \
    || fail "twoliter repo create" "$(cat "$WORK/create.err")"
ours="$(field dir <<<"$out")"
ln -s "$ours" "$WORK/repo/ours"
base="http://127.0.0.1:$port/ours"
out="$(python3 "$SCRIPT_DIR/repo-e2e/tuf_oracle.py" --root "$ours/root.json" \
    --metadata-url "$base/metadata/" --targets-url "$base/targets/" 2>&1)" \
    || fail "python-tuf accepts twoliter's repository" "$out"
downloaded="$(field downloaded <<<"$out")"
printf '%s\n' "metadata_base_url = \"$base/metadata\"" "targets_base_url = \"$base/targets\"" \
    'seed = 42' 'version_lock = "latest"' 'ignore_waves = false' >"$WORK/updog-ours.toml"
out="$("$BIN_DIR/updog" --config "$WORK/updog-ours.toml" --root-json "$ours/root.json" \
    --os-release "$WORK/os-release" --metadata-dir "$WORK/updog-ours/metadata" \
    --migrations-dir "$WORK/updog-ours/migrations" check-update --json 2>&1)" \
    || fail "updog reads twoliter's repository" "$out"
[[ "$(python3 -c 'import json,sys; print([u["version"] for u in json.load(sys.stdin)])' <<<"$out")" == "['0.2.0']" ]] \
    || fail "updog chooses 0.2.0 from twoliter's repository" "$out"
pass "twoliter repo init + create signed 0.2.0: python-tuf downloaded all $downloaded targets, updog chooses 0.2.0"

# ---------------------------------------------------------------- boot the update from firmware
# OVMF runs the boot stage from EFI-SYSTEM (no -kernel): it chooses B by its try and starts 0.2.0,
# whose init marks B successful. A copy of the disk as it is now (B on trial) is kept for the
# rollback below.
cp --sparse=always "$WORK/os.img" "$WORK/rollback.img"
ready="metal-dev 0.2.0 ready"
qemu_boot "$WORK/serial.log" "$ready" -drive "file=$WORK/os.img,format=raw,if=virtio"
log="$(serial_log "$WORK/serial.log")"
mkdir -p "$REPO/build/logs" && printf '%s\n' "$log" >"$REPO/build/logs/update-e2e-serial.log"
grep -q "^boot-stage: bank B chosen by tries (1 -> 0)$" <<<"$log" || fail "the boot stage chooses B by its try" "$log"
grep -q "$ready" <<<"$log" || fail "bank B boots to '$ready'" "$log"
grep -q "init: signpost: active bank: B (running root)" <<<"$log" \
    && grep -q "init: signpost: bank B: priority 2, tries left 0, successful" <<<"$log" \
    || fail "the booted 0.2.0 marks bank B successful" "$log"
[[ "$(bank B successful)/$(bank B priority)/$(bank A priority)" == True/2/1 ]] \
    || fail "after the boot, B is successful" "$("$BIN_DIR/signpost" status)"
gpt_clean "$WORK/os.img" "after the update boot, sgdisk -v"
pass "OVMF → boot stage: 'bank B chosen by tries (1 -> 0)' → '$ready' in ${BOOT_MS} ms: verity root, B marked successful, A kept as fallback"

# ---------------------------------------------------------------- rollback, on its own
# The trial boot of B is cut off right after the stage spent its try (a crash or power cut before
# 0.2.0's init marks it); the next boot from firmware falls back to A with no help.
qemu_boot "$WORK/trial.log" "^boot-stage: bank B chosen by tries" -drive "file=$WORK/rollback.img,format=raw,if=virtio"
log="$(serial_log "$WORK/trial.log")"
grep -q "^boot-stage: bank B chosen by tries (1 -> 0)$" <<<"$log" || fail "the cut-off trial boot chose B by its try" "$log"
qemu_boot "$WORK/fallback.log" "metal-dev 0.1.0 ready" -drive "file=$WORK/rollback.img,format=raw,if=virtio"
log="$(serial_log "$WORK/fallback.log")"
printf '%s\n' "$log" >"$REPO/build/logs/update-e2e-fallback.log"
grep -q "^boot-stage: bank A chosen as successful$" <<<"$log" && grep -q "metal-dev 0.1.0 ready" <<<"$log" \
    || fail "after an unmarked trial of B, the next boot is A (0.1.0)" "$log"
export SIGNPOST_DISK="$WORK/rollback.img"
[[ "$(bank B priority)/$(bank B tries_left)/$(bank B successful)" == 2/0/False ]] \
    || fail "signpost status: B priority 2, tries 0, not successful" "$("$BIN_DIR/signpost" status)"
gpt_clean "$WORK/rollback.img" "after the rollback, sgdisk -v"
pass "rollback: B's trial cut off after its try was spent; the next firmware boot chose A and reached 0.1.0's ready line; signpost status: B priority 2, tries 0, not successful; sgdisk -v clean"
rm -f "$WORK/rollback.img"

finish
