#!/usr/bin/env bash
# End-to-end proof that a built metal-dev image boots by itself: `twoliter build variant
# metal-dev`, then QEMU (TCG) boots the OS disk from firmware (OVMF, no -kernel): the boot stage in
# EFI-SYSTEM chooses the bank from the GPT attribute bits and starts BOOT-A's kernel with its
# grub.cfg command line, and the serial log must show the stage's decision, the root mounted
# read-only from /dev/dm-0 through dm-verity and the ready line. The same on an NVMe disk; the
# `-kernel` boot as the time reference; a trial bank without a kernel falls back to A; damaged
# primary and backup GPT headers boot A and are valid after; nothing bootable says so and resets;
# the same from SeaBIOS, where GRUB (boot.img in the MBR, core.img in BIOS-BOOT) runs our
# gptprio.next and repairs damaged copies itself, and a table of attribute cases on which GRUB and
# the shared chooser (signpost next) pick the same bank and leave byte-identical GPTs; one byte
# of ROOT-A flipped stops the boot; qcow2 and vmdk (on PVSCSI) boot. Also: a second build is a no-op, two builds give
# byte-identical images, and an offline aws-k8s-1.31 build fails fast listing its sources.
# Needs: qemu-system-x86_64, ovmf, lz4, debugfs (e2fsprogs), sgdisk (gdisk), mtools, python3,
# and what build-e2e.sh needs.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME=boot-e2e
. "$SCRIPT_DIR/e2e-common.sh"
need_binaries twoliter twoliter-publish signpost
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

# ---------------------------------------------------------------- boot from firmware
lz4 -d -q "$os_lz4" "$WORK/os.img"
read -r boot_start boot_size boot_uuid < <(partition_info "$meta" BOTTLEROCKET-BOOT-A)
dd if="$WORK/os.img" of="$WORK/boot.ext4" bs=1M skip="$boot_start" count="$boot_size" status=none
debugfs -R "dump /vmlinuz $WORK/vmlinuz" "$WORK/boot.ext4" 2>/dev/null
[[ -s "$WORK/vmlinuz" ]] || fail "vmlinuz is on BOOT-A"
grep -q 'dm-mod.create=' <<<"$(debugfs -R "cat /grub/grub.cfg" "$WORK/boot.ext4" 2>/dev/null)" \
    || fail "BOOT-A holds grub/grub.cfg with the verity command line"
read -r esp_start esp_size _ < <(partition_info "$meta" EFI-SYSTEM)
dd if="$WORK/os.img" of="$WORK/esp.fat" bs=1M skip="$esp_start" count="$esp_size" status=none
mcopy -n -i "$WORK/esp.fat" ::/EFI/BOOT/BOOTX64.EFI "$WORK/stage.efi" 2>/dev/null \
    || fail "EFI-SYSTEM holds /EFI/BOOT/BOOTX64.EFI" "$(mdir -/ -i "$WORK/esp.fat" :: 2>&1)"
pass "BOOT-A holds vmlinuz and grub.cfg (PARTUUID $boot_uuid); EFI-SYSTEM holds the boot stage ($(stat -c %s "$WORK/stage.efi") bytes)"

version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$meta")"
ready="metal-dev $version ready"
a_n="$(part_number "$WORK/os.img" BOTTLEROCKET-BOOT-A)"
b_n="$(part_number "$WORK/os.img" BOTTLEROCKET-BOOT-B)"
[[ -n "$a_n" && -n "$b_n" ]] || fail "the OS disk has BOOT-A and BOOT-B" "$(sgdisk -p "$WORK/os.img")"

# fresh <name>: a copy of the built OS disk, so every boot starts from the image as built.
fresh() { cp --sparse=always "$WORK/os.img" "$WORK/$1.img"; echo "$WORK/$1.img"; }
# booted <disk> <log name> [qemu disk arguments]: boots from firmware to the ready line; sets $log.
booted() {
    local disk="$1" name="$2"
    shift 2
    (( $# )) || set -- -drive "file=$disk,format=raw,if=virtio"
    qemu_boot "$WORK/$name.log" "$ready" "$@"
    log="$(serial_log "$WORK/$name.log")"
    mkdir -p "$REPO/build/logs" && printf '%s\n' "$log" >"$REPO/build/logs/boot-e2e-$name.log"
}
# said <text>: the console has the line "<who>: <text>" of the chooser that ran (`boot-stage` under
# OVMF, GRUB's `gptprio` under SeaBIOS).
who=boot-stage
said() { grep -q "$who: $1" <<<"$log"; }

disk="$(fresh virtio)"
booted "$disk" serial
grep -q "$ready" <<<"$log" || fail "the image boots from OVMF to '$ready'" "$log"
said "bank A chosen as successful" || fail "the boot stage chooses bank A" "$log"
grep -qi "Command line: .*PARTUUID=$boot_uuid" <<<"$log" \
    || fail "the kernel gets grub.cfg's command line with BOOT-A's PARTUUID filled in" "$log"
grep -Eq "init: root filesystem: /dev/(dm-0|root) / ext4 ro" <<<"$log" || fail "root mounted read-only" "$log"
grep -q "init: /dev/dm-0 is device-mapper target 'root'" <<<"$log" && grep -q "EXT4-fs (dm-0): mounted" <<<"$log" \
    || fail "root is the dm-verity device dm-0" "$log"
firmware_ms=$BOOT_MS
pass "OVMF → boot stage ('bank A chosen as successful') → '$ready' in ${firmware_ms} ms wall, no -kernel; root ro from /dev/dm-0 (verity)"
grep -q "init: apiserver started" <<<"$log" \
    && grep -q 'init: settings.motd = .*"Welcome to a twoliter development image."' <<<"$log" \
    || fail "the runtime services answer on the booted host" "$log"
pass "storewolf + apiserver run on the booted host; apiclient reads settings"
grep -q "init: signpost: active bank: A (running root)" <<<"$log" \
    && grep -q "init: signpost: boot has ever succeeded: true" <<<"$log" \
    && grep -q "init: signpost: bank A: priority 1, tries left 0, successful" <<<"$log" \
    || fail "signpost finds the running disk and marks bank A successful" "$log"
gpt_clean "$disk" "after the boot, sgdisk -v"
pass "signpost on the booted host: running disk found from dm-0, bank A marked successful; both GPT copies valid"

# The same image behind an NVMe controller (EBS on Nitro): the stage finds its disk there and the
# kernel its root.
disk="$(fresh nvme)"
booted "$disk" nvme -drive "file=$disk,format=raw,if=none,id=os" -device nvme,drive=os,serial=os
grep -q "$ready" <<<"$log" && said "bank A chosen as successful" && grep -q "EXT4-fs (dm-0): mounted" <<<"$log" \
    || fail "NVMe: the image boots from OVMF to '$ready'" "$log"
pass "NVMe disk: boot stage → '$ready' in ${BOOT_MS} ms, root on dm-0 (verity)"

# Today's direct kernel boot (SeaBIOS, -kernel and the command line handed in), same image, same
# run: the reference for what the firmware and the stage add.
disk="$(fresh direct)"
booted "$disk" direct -kernel "$WORK/vmlinuz" -append "$(kernel_cmdline "$meta" "$boot_uuid")" \
    -drive "file=$disk,format=raw,if=virtio"
grep -q "$ready" <<<"$log" || fail "reference: the -kernel boot reaches '$ready'" "$log"
pass "reference, same run: QEMU -kernel (no firmware boot) reaches '$ready' in ${BOOT_MS} ms (firmware boot: ${firmware_ms} ms)"

# The cases both firmware boot paths must handle, checked on the chooser's console lines (`said`);
# $1 names the path in messages.
sectors=$(( $(stat -c %s "$WORK/os.img") / 512 ))
gpt_sum() { { dd if="$1" bs=512 count=34 status=none; dd if="$1" bs=512 skip=$(( sectors - 33 )) status=none; } | sha256sum; }

# A trial of a bank whose BOOT holds no filesystem (BOOT-B of a fresh image): the try is spent,
# the bank cannot be loaded, the chooser chooses again and A boots; the GPT keeps B's spent try.
trial_falls_back() {
    disk="$(fresh "$1-trial")"
    sgdisk $(for bit in 48 49 50 51 52 53 54 55 56; do echo "-A $b_n:clear:$bit"; done) \
        -A "$b_n:set:49" -A "$b_n:set:52" "$disk" >/dev/null || fail "set BOOT-B's attributes"
    [[ "$(gpt_attrs "$disk" "$b_n")" == 0012000000000000 ]] || fail "BOOT-B: priority 2, tries 1, not successful before the boot"
    booted "$disk" "$1-trial"
    said "bank B chosen by tries (1 -> 0)" && grep -q "$who: bank B (partition $b_n) failed: " <<<"$log" \
        && said "bank A chosen as successful" && grep -q "$ready" <<<"$log" \
        || fail "$1: a trial bank without a kernel falls back to A" "$log"
    gpt_clean "$disk" "$1: after the fallback, sgdisk -v"
    [[ "$(gpt_attrs "$disk" "$b_n")" == 0002000000000000 ]] || fail "$1: BOOT-B priority 2, tries 0 after the fallback" "$(gpt_attrs "$disk" "$b_n")"
    pass "$1, trial of an empty BOOT-B: '$(grep -o "$who: bank B (partition.*" <<<"$log" | head -1 | cut -c1-90)...', A booted; B now priority 2, tries 0; sgdisk -v clean"
}

# Damaged GPT copies: the primary header (LBA 1), then the backup header (the last LBA), zeroed:
# A boots and both copies are valid after. $2 = 1: the chooser itself must have repaired the copy
# (OVMF's partition driver restores a bad copy before any loader runs, so under OVMF it may find
# the table repaired; the stage's own repair is covered by runtime/boot-stage's host tests).
damaged_copies_boot_a() {
    local copy name other by
    for copy in primary:1 backup:$(( sectors - 1 )); do
        name="${copy%%:*}"
        [[ "$name" == primary ]] && other=backup || other=primary
        disk="$(fresh "$1-damaged-$name")"
        dd if=/dev/zero of="$disk" bs=512 seek="${copy#*:}" count=1 conv=notrunc status=none
        booted "$disk" "$1-damaged-$name"
        said "bank A chosen as successful" && grep -q "$ready" <<<"$log" || fail "$1, damaged $name GPT header: A boots" "$log"
        gpt_clean "$disk" "$1: after a boot with a damaged $name header, sgdisk -v"
        if said "the $name GPT copy is invalid" && said "rewrote both GPT copies from the valid $other copy"; then
            by="$who, which said so"
        elif [[ "$2" == 1 ]]; then
            fail "$1, damaged $name GPT header: $who says so and rewrites both copies" "$log"
        else
            by="the firmware, before $who ran"
        fi
        pass "$1, damaged $name GPT header (LBA ${copy#*:} zeroed): A booted; both copies valid after (repaired by $by)"
    done
}

# Nothing bootable (A's priority cleared, B empty): the chooser says so and resets (QEMU exits, as
# it runs with -no-reboot) without writing the GPT.
nothing_bootable_resets() {
    local before
    disk="$(fresh "$1-none")"
    sgdisk $(for bit in 48 49 50 51; do echo "-A $a_n:clear:$bit"; done) "$disk" >/dev/null || fail "clear BOOT-A's priority"
    before="$(gpt_sum "$disk")"
    qemu_boot "$WORK/$1-none.log" 'x^' -drive "file=$disk,format=raw,if=virtio"
    log="$(serial_log "$WORK/$1-none.log")"
    said "nothing bootable: " && said "resetting in " || fail "$1, nothing bootable: $who says so and resets" "$log"
    (( BOOT_MS < BOOT_TIMEOUT * 1000 )) || fail "$1, nothing bootable: the machine resets (QEMU exits)" "$log"
    [[ "$(gpt_sum "$disk")" == "$before" ]] || fail "$1, nothing bootable: the GPT is not written"
    pass "$1, nothing bootable: '$(grep -o "$who: nothing.*" <<<"$log" | head -1 | cut -c1-70)...', reset (QEMU exited at ${BOOT_MS} ms), GPT untouched"
}

trial_falls_back UEFI
damaged_copies_boot_a UEFI 0
nothing_bootable_resets UEFI

# ---------------------------------------------------------------- legacy BIOS (SeaBIOS)
# The same disk from QEMU's SeaBIOS: boot.img in the MBR, core.img in BIOS-BOOT, GRUB's
# gptprio.next choosing the bank. GRUB writes through the BIOS, so its own repair of a damaged
# copy is what these boots show.
FIRMWARE=seabios
who=gptprio
disk="$(fresh bios)"
booted "$disk" bios
grep -q "$ready" <<<"$log" && said "bank A chosen as successful" && grep -q "EXT4-fs (dm-0): mounted" <<<"$log" \
    || fail "SeaBIOS → GRUB → '$ready'" "$log"
grep -qi "Command line: .*PARTUUID=$boot_uuid" <<<"$log" || fail "GRUB passes grub.cfg's command line with BOOT-A's PARTUUID" "$log"
gpt_clean "$disk" "after the BIOS boot, sgdisk -v"
bios_ms=$BOOT_MS
pass "SeaBIOS → GRUB gptprio.next ('bank A chosen as successful') → '$ready' in ${bios_ms} ms wall, root on dm-0 (verity)"

trial_falls_back BIOS
damaged_copies_boot_a BIOS 1
nothing_bootable_resets BIOS

# One table of attribute cases, decided by GRUB (booted until the kernel prints its command line,
# whose PARTUUID names the chosen BOOT) and by the shared chooser (signpost next, runtime/gptprio)
# on a copy of the same disk: the same bank, and afterwards byte-identical GPTs (both copies).
# Bank B holds a copy of bank A, so either boots.
disk="$(fresh both-banks)"
for p in BOOT ROOT HASH; do
    read -r from _ _ < <(partition_info "$meta" "BOTTLEROCKET-$p-A")
    read -r to size _ < <(partition_info "$meta" "BOTTLEROCKET-$p-B")
    dd if="$disk" of="$disk" bs=1M skip="$from" seek="$to" count="$size" conv=notrunc,sparse status=none
done
read -r _ _ b_uuid < <(partition_info "$meta" BOTTLEROCKET-BOOT-B)
attrs_args() { # <partition> <priority> <tries> <successful>
    local bit args=()
    for bit in 48 49 50 51 52 53 54 55 56; do args+=(-A "$1:clear:$bit"); done
    for bit in 0 1 2 3; do (( ($2 >> bit) & 1 )) && args+=(-A "$1:set:$((48 + bit))"); done
    for bit in 0 1 2 3; do (( ($3 >> bit) & 1 )) && args+=(-A "$1:set:$((52 + bit))"); done
    (( $4 )) && args+=(-A "$1:set:56")
    echo "${args[@]}"
}
cases=0
#          A: prio tries ok   B: prio tries ok   expected
for row in "1 0 1  0 0 0  A" "1 0 1  2 1 0  B" "1 0 1  2 0 0  A" "1 0 1  2 0 1  B" \
           "2 0 1  2 0 1  A" "1 0 0  1 2 0  B" "15 3 1  2 0 1  A" "0 0 1  3 0 0  none"; do
    read -r ap at as bp bt bs want <<<"$row"
    grub_disk="$WORK/case-grub.img" shared_disk="$WORK/case-shared.img"
    cp --sparse=always "$disk" "$grub_disk"
    sgdisk $(attrs_args "$a_n" "$ap" "$at" "$as") $(attrs_args "$b_n" "$bp" "$bt" "$bs") "$grub_disk" >/dev/null \
        || fail "set the case's attributes ($row)"
    cp --sparse=always "$grub_disk" "$shared_disk"
    if SIGNPOST_DISK="$shared_disk" "$BIN_DIR/signpost" next --json >"$WORK/next.json" 2>"$WORK/next.err"; then
        shared="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["bank"])' <"$WORK/next.json")"
    else
        shared=none
    fi
    SETTLE=0 qemu_boot "$WORK/case.log" 'Command line:|resetting in' -drive "file=$grub_disk,format=raw,if=virtio"
    log="$(serial_log "$WORK/case.log")"
    if grep -qi "Command line: .*PARTUUID=$boot_uuid" <<<"$log"; then grub=A
    elif grep -qi "Command line: .*PARTUUID=$b_uuid" <<<"$log"; then grub=B
    elif said "nothing bootable"; then grub=none
    else fail "case ($row): GRUB booted a kernel or said nothing is bootable" "$log"; fi
    [[ "$grub" == "$want" && "$shared" == "$want" ]] \
        || fail "case A($ap,$at,$as) B($bp,$bt,$bs): GRUB chose $grub, the shared chooser $shared, expected $want" "$log"
    cmp -s <(gpt_sum "$grub_disk") <(gpt_sum "$shared_disk") \
        || fail "case ($row): GRUB and the shared chooser leave byte-identical GPTs" "$(sgdisk -i "$b_n" "$grub_disk"; sgdisk -i "$b_n" "$shared_disk")"
    cases=$((cases + 1))
done
rm -f "$WORK/case-grub.img" "$WORK/case-shared.img"
pass "GRUB's gptprio.next and the shared chooser agree on all $cases attribute cases (bank chosen; both GPT copies byte-identical after)"
FIRMWARE=ovmf who=boot-stage

# Corrupt one byte of the init script inside ROOT-A: verity must stop the boot.
disk="$(fresh corrupt)"
read -r root_start _ _ < <(partition_info "$meta" BOTTLEROCKET-ROOT-A)
dd if="$disk" of="$WORK/root.ext4" bs=1M skip="$root_start" count=64 status=none
block="$(debugfs -R "bmap /etc/init.d/rcS 0" "$WORK/root.ext4" 2>/dev/null)"
[[ "$block" =~ ^[0-9]+$ ]] || fail "found the init script's block in ROOT-A" "$block"
offset=$(( root_start * 1048576 + block * 4096 + 100 ))
byte="$(dd if="$disk" bs=1 skip="$offset" count=1 status=none | od -An -tu1 | tr -d ' ')"
printf "$(printf '\\%03o' $(( byte ^ 0xff )))" | dd of="$disk" bs=1 seek="$offset" conv=notrunc status=none
qemu_boot "$WORK/corrupt.log" 'verity: .*is corrupted|dm-verity device corrupted|Kernel panic' \
    -drive "file=$disk,format=raw,if=virtio"
log="$(serial_log "$WORK/corrupt.log")"
printf '%s\n' "$log" > "$REPO/build/logs/boot-e2e-corrupt.log"
if grep -q "$ready" <<<"$log"; then fail "a flipped byte in ROOT-A stops the boot" "$log"; fi
grep -Eq "verity: .*is corrupted|dm-verity device corrupted" <<<"$log" || fail "the kernel reports the verity failure" "$log"
pass "flipped byte in ROOT-A: no ready line, kernel: '$(grep -E 'verity: .*is corrupted' <<<"$log" | head -1 | sed 's/^\[[^]]*\] //')'"
rm -f "$WORK"/*.img

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

# ---------------------------------------------------------------- qcow2 and vmdk
# The same variant built as the converted formats (the packages are cached, only the image is
# assembled again): each boots from firmware the same way; the vmdk behind VMware's paravirtual
# SCSI controller with a vmxnet3 NIC (isolated user networking) as on vSphere, from SeaBIOS (which drives PVSCSI; Debian's OVMF has no PVSCSI
# driver) through GRUB. QEMU writes to a streamOptimized vmdk only through a snapshot.
for format in qcow2 vmdk; do
    out="$(tl build variant metal-dev --image-format "$format" 2>&1)" || fail "build metal-dev as $format" "$out"
    converted="$(ls "$(readlink -f "$images/latest")"/bottlerocket-metal-dev-*."$format" | grep -v -- '-data\.' | head -1)"
    [[ -f "$converted" ]] || fail "the $format OS disk exists" "$(ls -l "$(readlink -f "$images/latest")")"
    if [[ "$format" == qcow2 ]]; then
        cp "$converted" "$WORK/os.qcow2"
        booted "$WORK/os.qcow2" "$format" -drive "file=$WORK/os.qcow2,format=qcow2,if=virtio"
        how="virtio-blk"
    else
        FIRMWARE=seabios booted "$converted" "$format" -drive "file=$converted,format=vmdk,if=none,id=os,snapshot=on" \
            -device pvscsi,id=pvscsi -device scsi-hd,drive=os,bus=pvscsi.0 \
            -netdev user,id=net,restrict=on -device vmxnet3,netdev=net
        grep -Eq "vmxnet3 [0-9a-f:.]+ eth0: NIC Link is Up" <<<"$log" || fail "the kernel drives VMware's vmxnet3 NIC" "$log"
        how="PVSCSI disk and vmxnet3 NIC (eth0 link up), SeaBIOS → GRUB"
    fi
    grep -q "$ready" <<<"$log" && grep -Eq "(boot-stage|gptprio): bank A chosen as successful" <<<"$log" \
        && grep -q "EXT4-fs (dm-0): mounted" <<<"$log" \
        || fail "the $format image boots from firmware to '$ready'" "$log"
    pass "$format ($how): '$ready' in ${BOOT_MS} ms, root on dm-0 (verity)"
done
rm -f "$WORK/os.qcow2"

# ---------------------------------------------------------------- offline seed variant
start=$(date +%s%N)
if out="$(tl build variant aws-k8s-1.31 2>&1)"; then fail "aws-k8s-1.31 offline fails" "$out"; fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "external file(s) are not available, so nothing was built" <<<"$out" \
    && grep -q "kubernetes-1.31:" <<<"$out" && grep -q "containerd:" <<<"$out" \
    || fail "aws-k8s-1.31 lists every missing source" "$out"
pass "aws-k8s-1.31 offline: fails in ${ms} ms listing $(grep -c ' is missing;' <<<"$out") missing sources"

finish
