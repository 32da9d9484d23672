#!/usr/bin/env bash
# End-to-end proof that a built metal-dev image boots Bottlerocket-style: `twoliter build
# variant metal-dev`, then QEMU (TCG) boots the OS disk with direct kernel boot — vmlinuz taken
# from BOOT-A, the command line from the artifact metadata with BOOT-A's PARTUUID filled in as the
# boot stage would — and the serial log must show the root mounted read-only from /dev/dm-0
# through dm-verity and the ready line. A second boot with one byte of ROOT-A flipped (in the init
# script the boot reads) must not reach the ready line. Also: a second build is a no-op, two builds
# give byte-identical images, and an offline aws-k8s-1.31 build fails fast listing its sources.
# Needs: qemu-system-x86_64, lz4, debugfs (e2fsprogs), python3, and what build-e2e.sh needs.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME=boot-e2e
. "$SCRIPT_DIR/e2e-common.sh"
need_binaries twoliter
TWOLITER="$BIN_DIR/twoliter"
export TWOLITER_CACHE_DIR="${TWOLITER_CACHE_DIR:-/var/tmp/twoliter-e2e-cache}"
BOOT_TIMEOUT="${BOOT_TIMEOUT:-180}"

WORK="$(mktemp -d /var/tmp/boot-e2e.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

tl() { "$TWOLITER" --project-path "$REPO" "$@"; }

# ---------------------------------------------------------------- build
start=$(date +%s)
out="$(tl build variant metal-dev 2>&1)" || fail "twoliter build variant metal-dev" "$out"
echo "$out" | sed 's/^/    /'
pass "twoliter build variant metal-dev ($(( $(date +%s) - start )) s)"
images="$REPO/build/images/$(uname -m)-metal-dev"
dir="$(readlink -f "$images/latest")"
meta="$(ls "$dir"/bottlerocket-metal-dev-*.json | head -1)"
os_lz4="$(ls "$dir"/bottlerocket-metal-dev-*.img.lz4 | grep -v -- '-data.img.lz4' | head -1)"
[[ -f "$os_lz4" && -f "$meta" ]] || fail "artifacts exist" "$(ls -l "$dir")"

start=$(date +%s%N)
out="$(tl build variant metal-dev 2>&1)" || fail "second build" "$out"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "up to date" <<<"$out" || fail "second build is a no-op" "$out"
(( ms < 2000 )) || fail "no-op build under 2 s" "took ${ms} ms"
pass "second build is a no-op (${ms} ms)"

# ---------------------------------------------------------------- boot
lz4 -d -q "$os_lz4" "$WORK/os.img"
read -r boot_start boot_size boot_uuid < <(partition_info "$meta" BOTTLEROCKET-BOOT-A)
cmdline="$(kernel_cmdline "$meta" "$boot_uuid")"
dd if="$WORK/os.img" of="$WORK/boot.ext4" bs=1M skip="$boot_start" count="$boot_size" status=none
debugfs -R "dump /vmlinuz $WORK/vmlinuz" "$WORK/boot.ext4" 2>/dev/null
[[ -s "$WORK/vmlinuz" ]] || fail "vmlinuz is on BOOT-A"
grep -q 'dm-mod.create=' <<<"$(debugfs -R "cat /grub/grub.cfg" "$WORK/boot.ext4" 2>/dev/null)" \
    || fail "BOOT-A holds grub/grub.cfg with the verity command line"
pass "BOOT-A holds vmlinuz and grub.cfg; BOOT-A PARTUUID $boot_uuid"

version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$meta")"
ready="metal-dev $version ready"

start=$(date +%s)
qemu_boot "$WORK/os.img" "$WORK/vmlinuz" "$cmdline" "$WORK/serial.log" "$ready"
log="$(tr -d '\r' < "$WORK/serial.log")"
mkdir -p "$REPO/build/logs" && printf '%s\n' "$log" > "$REPO/build/logs/boot-e2e-serial.log"
grep -q "$ready" <<<"$log" || fail "the image boots to '$ready'" "$log"
grep -Eq "init: root filesystem: /dev/(dm-0|root) / ext4 ro" <<<"$log" || fail "root mounted read-only" "$log"
grep -q "init: /dev/dm-0 is device-mapper target 'root'" <<<"$log" && grep -q "EXT4-fs (dm-0): mounted" <<<"$log" \
    || fail "root is the dm-verity device dm-0" "$log"
pass "booted to '$ready' in $(( $(date +%s) - start )) s wall, root ro from /dev/dm-0 (verity)"
grep -q "init: apiserver started" <<<"$log" \
    && grep -q 'init: settings.motd = .*"Welcome to a twoliter development image."' <<<"$log" \
    || fail "the runtime services answer on the booted host" "$log"
pass "storewolf + apiserver run on the booted host; apiclient reads settings"
grep -q "init: signpost: active bank: A (running root)" <<<"$log" \
    && grep -q "init: signpost: boot has ever succeeded: true" <<<"$log" \
    && grep -q "init: signpost: bank A: priority 1, tries left 0, successful" <<<"$log" \
    || fail "signpost finds the running disk and marks bank A successful" "$log"
pass "signpost on the booted host: running disk found from dm-0, bank A marked successful"

# Corrupt one byte of the init script inside ROOT-A: verity must stop the boot.
read -r root_start _ _ < <(partition_info "$meta" BOTTLEROCKET-ROOT-A)
dd if="$WORK/os.img" of="$WORK/root.ext4" bs=1M skip="$root_start" count=64 status=none
block="$(debugfs -R "bmap /etc/init.d/rcS 0" "$WORK/root.ext4" 2>/dev/null)"
[[ "$block" =~ ^[0-9]+$ ]] || fail "found the init script's block in ROOT-A" "$block"
offset=$(( root_start * 1048576 + block * 4096 + 100 ))
byte="$(dd if="$WORK/os.img" bs=1 skip="$offset" count=1 status=none | od -An -tu1 | tr -d ' ')"
printf "$(printf '\\%03o' $(( byte ^ 0xff )))" | dd of="$WORK/os.img" bs=1 seek="$offset" conv=notrunc status=none
qemu_boot "$WORK/os.img" "$WORK/vmlinuz" "$cmdline" "$WORK/serial-corrupt.log"
log="$(tr -d '\r' < "$WORK/serial-corrupt.log")"
printf '%s\n' "$log" > "$REPO/build/logs/boot-e2e-serial-corrupt.log"
if grep -q "$ready" <<<"$log"; then fail "a flipped byte in ROOT-A stops the boot" "$log"; fi
grep -Eq "verity: .*is corrupted|dm-verity device corrupted" <<<"$log" || fail "the kernel reports the verity failure" "$log"
pass "flipped byte in ROOT-A: no ready line, kernel: '$(grep -E 'verity: .*is corrupted' <<<"$log" | head -1 | sed 's/^\[[^]]*\] //')'"

# ---------------------------------------------------------------- reproducibility
first_sha="$(sha256sum "$os_lz4" | cut -d' ' -f1)"
out="$(tl build variant metal-dev --force 2>&1)" || fail "forced rebuild" "$out"
grep -q "built metal-dev .*(forced)" <<<"$out" || fail "the forced rebuild assembled the image again, saying why" "$out"
second="$(ls "$(readlink -f "$images/latest")"/bottlerocket-metal-dev-*.img.lz4 | grep -v -- '-data.img.lz4' | head -1)"
second_sha="$(sha256sum "$second" | cut -d' ' -f1)"
[[ "$first_sha" == "$second_sha" ]] || fail "two builds give byte-identical .img.lz4" "$first_sha vs $second_sha"
pass "two builds of the same commit give byte-identical .img.lz4 ($first_sha)"

# ---------------------------------------------------------------- publish checks the real build
# `twoliter publish ami` checks the image before any AWS call: the real metal-dev build must pass
# that check (decompressed raw disk, both GPT copies, every partition as the metadata records).
# The AWS endpoint is a closed loopback port, so the run then stops at its first call, quickly.
if [[ -x "$BIN_DIR/twoliter-publish" ]]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    out="$(AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
        timeout 120 "$TWOLITER" --project-path "$REPO" publish ami --variant metal-dev --regions us-west-2 2>&1)" \
        && fail "publish ami against a closed port fails" "$out"
    grep -q "GPT and partitions match the build's metadata" <<<"$out" \
        && grep -q "DescribeImages in us-west-2 failed" <<<"$out" \
        || fail "publish ami accepts the real metal-dev build" "$out"
    leftovers="$(find "$(readlink -f "$images/latest")" -maxdepth 1 -name '.publish-*')"
    [[ -z "$leftovers" ]] || fail "publish ami removes its work directory" "$leftovers"
    pass "publish ami: the real metal-dev build passes the image check (then stops at the closed endpoint)"
else
    echo "SKIP: twoliter-publish is not in $BIN_DIR"
fi

# ---------------------------------------------------------------- offline seed variant
start=$(date +%s%N)
if out="$(tl build variant aws-k8s-1.31 2>&1)"; then fail "aws-k8s-1.31 offline fails" "$out"; fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "external file(s) are not available, so nothing was built" <<<"$out" \
    && grep -q "kubernetes-1.31:" <<<"$out" && grep -q "containerd:" <<<"$out" \
    || fail "aws-k8s-1.31 lists every missing source" "$out"
pass "aws-k8s-1.31 offline: fails in ${ms} ms listing $(grep -c ' is missing;' <<<"$out") missing sources"

finish
