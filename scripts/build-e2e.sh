#!/usr/bin/env bash
# End-to-end check of package and kit builds in the real SDK through podman/docker:
#   part 1 (fixture project scripts/build-e2e/project): lookaside preflight, build-dependency
#     visibility, http lookaside, no-op rebuild, one-package rebuild after a comment edit, sha512
#     mismatch, failing spec with log tail beside an independent package, no network in builds,
#     kit repodata and OCI archive read by skopeo;
#   part 2 (this repository): `twoliter sdk build` and `twoliter build kit core-kit`, every RPM's
#     metadata and files, the kernel's config.
# Needs: podman (or docker), mmdebstrap, rpm, skopeo, python3. Caches: TWOLITER_CACHE_DIR.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME=build-e2e
. "$SCRIPT_DIR/e2e-common.sh"
need_binaries twoliter
TWOLITER="$BIN_DIR/twoliter"
CACHE="${TWOLITER_CACHE_DIR:-/var/tmp/twoliter-e2e-cache}"

WORK="$(mktemp -d /tmp/build-e2e.XXXXXX)"
HTTP_PID=""
cleanup() {
    [[ -n "$HTTP_PID" ]] && kill "$HTTP_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---------------------------------------------------------------- part 1: fixture project
P="$WORK/project"
cp -rL "$SCRIPT_DIR/build-e2e/project" "$P"
export TWOLITER_CACHE_DIR="$WORK/cache"
tl() { "$TWOLITER" --project-path "$P" "$@"; }

# The flat lookaside directory holds hello.txt; the http lookaside serves served.txt.
LOOK="$WORK/lookaside"
mkdir -p "$LOOK"
printf 'hello from the lookaside\n' > "$LOOK/hello.txt"
served_sha="$(printf 'served over http\n' | sha512sum | cut -d' ' -f1)"
mkdir -p "$WORK/http/served.txt/$served_sha"
printf 'served over http\n' > "$WORK/http/served.txt/$served_sha/served.txt"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/http" "$PORT" >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null && break
    sleep 0.1
done

# 1. Without a lookaside, the build stops before any container with every missing file listed.
if out="$(tl build package hello fetched 2>&1)"; then fail "missing external files stop the build" "$out"; fi
grep -q "2 external file(s) are not available" <<<"$out" && grep -q "hello.txt" <<<"$out" \
    && grep -q "served.txt" <<<"$out" || fail "missing external files are all listed" "$out"
[[ ! -e "$P/build/logs/hello.log" ]] || fail "no build starts when sources are missing"
pass "missing external files listed up front, nothing built"

export TWOLITER_LOOKASIDE_CACHE="$LOOK,http://127.0.0.1:$PORT"

# 2. The kit builds: dependency files visible, http lookaside used, repodata + OCI archive.
out="$(tl build kit good-kit 2>&1)" || fail "build kit good-kit" "$out"
grep -q "3 built, 0 cached" <<<"$out" || fail "good-kit builds 3 packages" "$out"
pass "build kit good-kit (3 packages)"
copy="$(rpm2cpio "$P"/build/rpms/*/hello-user/hello-user-*.rpm | cpio -i --to-stdout --quiet ./usr/share/hello-user/copy.txt)"
[[ "$copy" == "hello from the lookaside" ]] || fail "hello-user saw hello's files during its build" "$copy"
pass "a build dependency's files are installed before the build"
grep -qx /usr/share/fetched/served.txt <<<"$(rpm -qpl "$P"/build/rpms/*/fetched/fetched-*.rpm)" \
    || fail "fetched packages the file from the http lookaside"
pass "external file fetched from the http lookaside"
release="$(rpm -qp --qf '%{RELEASE}' "$P"/build/rpms/*/hello/hello-*.rpm)"
[[ "$release" =~ ^1\.[0-9a-f]{12}$ ]] || fail "Release carries the content build id" "$release"
pass "Release $release carries the build id"
repo="$(echo "$P"/build/kits/good-kit/*/)"
[[ -f "$repo/repodata/repomd.xml" ]] || fail "kit has yum repodata" "$(ls -R "$P/build/kits")"
pass "kit has yum repodata"
archive="$(echo "$P"/build/kits/good-kit/good-kit-0.1.0-*.oci.tar)"
inspect="$(skopeo inspect "oci-archive:$archive")" || fail "skopeo inspect reads the kit archive" "$inspect"
layers="$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["Layers"]), d["Labels"]["dev.twoliter.kit.name"])' <<<"$inspect")"
[[ "$layers" == "4 good-kit" ]] || fail "kit archive has one layer per package + repodata" "$inspect"
pass "skopeo inspect oci-archive: 4 layers, kit label"

# Packages are reproducible: the same inputs built again with an empty cache give the same bytes.
first="$(sha256sum "$P"/build/rpms/*/hello/hello-*.rpm | cut -d' ' -f1)"
out="$(TWOLITER_CACHE_DIR="$WORK/cache-again" tl build package hello 2>&1)" || fail "rebuild hello in a fresh cache" "$out"
grep -q "1 built" <<<"$out" || fail "hello was rebuilt in the fresh cache" "$out"
again="$(sha256sum "$P"/build/rpms/*/hello/hello-*.rpm | cut -d' ' -f1)"
[[ "$first" == "$again" ]] || fail "a rebuilt RPM is byte-identical" "$first vs $again"
pass "rebuilt from scratch, the RPM is byte-identical ($first)"

# 3. Nothing changed: no container, < 2 s, everything cached.
start=$(date +%s%N)
out="$(tl build kit good-kit 2>&1)" || fail "no-op rebuild" "$out"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "0 built, 3 cached" <<<"$out" && grep -q "repodata current" <<<"$out" || fail "no-op rebuild is all cached" "$out"
(( ms < 2000 )) || fail "no-op rebuild under 2 s" "took ${ms} ms"
pass "no-op rebuild: all cached, repodata current, ${ms} ms"

# 4. A comment in hello-user.spec rebuilds hello-user only, and says why.
sed -i 's/^# A comment the test edits./# A comment the test edited./' "$P/kits/good-kit/packages/hello-user/hello-user.spec"
out="$(tl build kit good-kit 2>&1)" || fail "rebuild after a comment edit" "$out"
grep -q "1 built, 2 cached" <<<"$out" && grep -q "hello-user: built in .*changed file hello-user.spec" <<<"$out" \
    || fail "only hello-user rebuilt, because its spec changed" "$out"
pass "comment edit rebuilds only hello-user (changed file hello-user.spec)"

# 5a. A package file named like its external file would be overwritten when staged: refused.
printf 'local copy\n' > "$P/kits/good-kit/packages/hello/hello.txt"
if out="$(tl build package hello 2>&1)"; then fail "a staged-name collision is an error" "$out"; fi
grep -q "are both named \`hello.txt\` in the build's sources" <<<"$out" || fail "the collision names the file" "$out"
rm "$P/kits/good-kit/packages/hello/hello.txt"
pass "package file and external file with one name refused before building"

# 5. A changed sha512 is a mismatch against the lookaside's copy.
other="$(printf 'something else\n' | sha512sum | cut -d' ' -f1)"
sed -i "s/sha512: .*/sha512: $other/" "$P/kits/good-kit/packages/hello/package.yaml"
if out="$(tl build package hello 2>&1)"; then fail "sha512 mismatch is an error" "$out"; fi
grep -q "hello.txt at .* has sha512 .* but the package manifest expects $other" <<<"$out" \
    || fail "sha512 mismatch names the file and both digests" "$out"
pass "changed sha512 reported as a mismatch"

# 6. A failing spec shows its log tail; an independent package still builds; no network.
sed -i "s|127.0.0.1/9|127.0.0.1/$PORT|" "$P/kits/bad-kit/packages/net-probe/net-probe.spec"
if out="$(tl build kit bad-kit -j 2 2>&1)"; then fail "bad-kit fails" "$out"; fi
grep -q "BROKEN-MARKER" <<<"$out" && grep -q "last lines of .*broken.log" <<<"$out" \
    || fail "a failed package's log tail is printed" "$out"
pass "failed spec prints its log tail and log path"
ls "$P"/build/rpms/*/independent/independent-*.rpm >/dev/null 2>&1 || fail "independent package still built" "$out"
pass "independent package built beside the failures"
netlog="$P/build/logs/net-probe.log"
grep -q "NET-PROBE: no connection to 192.0.2.1/80" "$netlog" && grep -q "NET-PROBE: no connection to 127.0.0.1/$PORT" "$netlog" \
    && ! grep -q "NET-PROBE: connected" "$netlog" || fail "package builds cannot reach the network" "$(cat "$netlog")"
pass "package builds have no network (outside address and host loopback unreachable)"

# ---------------------------------------------------------------- part 2: this repository
export TWOLITER_CACHE_DIR="$CACHE"
unset TWOLITER_LOOKASIDE_CACHE
rt() { "$TWOLITER" --project-path "$REPO" "$@"; }
start=$(date +%s)
out="$(rt sdk build 2>&1)" || fail "twoliter sdk build" "$out"
pass "twoliter sdk build ($(( $(date +%s) - start )) s)"
start=$(date +%s)
out="$(rt build kit core-kit 2>&1)" || fail "twoliter build kit core-kit" "$out"
echo "$out" | sed 's/^/    /'
pass "twoliter build kit core-kit ($(( $(date +%s) - start )) s)"
arch="$(uname -m)"
for dir in "$REPO/kits/core-kit/packages"/*/; do
    name="$(basename "$dir")"
    rpm_file="$(ls "$REPO/build/rpms/$arch/$name/$name"-*.rpm 2>/dev/null | head -1)"
    [[ -n "$rpm_file" ]] || fail "core-kit package $name has an RPM"
    got="$(rpm -qp --qf '%{NAME} %{VERSION} %{LICENSE}' "$rpm_file")"
    want_version="$(sed -n 's/^version: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$dir/package.yaml")"
    [[ "$got" == "$name $want_version "* ]] || fail "rpm -qpi $name shows name and version $want_version" "$got"
    [[ -n "$(rpm -qpl "$rpm_file")" ]] || fail "rpm -qpl $name lists files"
done
pass "rpm -qpi/-qpl of every core-kit RPM: name, version, license, files"
config="$(rpm2cpio "$REPO"/build/rpms/"$arch"/kernel/kernel-*.rpm | cpio -i --to-stdout --quiet ./boot/config)"
grep -qx CONFIG_DM_VERITY=y <<<"$config" && grep -qx CONFIG_DM_INIT=y <<<"$config" \
    || fail "kernel config has DM_VERITY=y and DM_INIT=y" "$(grep -E 'DM_|CONFIG_MD' <<<"$config")"
pass "kernel built in the SDK with CONFIG_DM_VERITY=y and CONFIG_DM_INIT=y"
start=$(date +%s%N)
out="$(rt build kit core-kit 2>&1)" || fail "core-kit no-op rebuild" "$out"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q " 0 built" <<<"$out" || fail "core-kit no-op rebuild is all cached" "$out"
pass "core-kit no-op rebuild: all cached in ${ms} ms"
skopeo inspect "oci-archive:$(echo "$REPO"/build/kits/core-kit/core-kit-*-"$arch".oci.tar)" >/dev/null \
    || fail "skopeo inspect reads the core-kit archive"
pass "skopeo inspect reads the core-kit archive"

finish
