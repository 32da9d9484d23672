#!/usr/bin/env bash
# Benchmark of the EBS snapshot upload of `twoliter-publish snapshot upload` against coldsnap
# (issue: publish), both talking to the loopback EBS server (scripts/publish-e2e/ebs_server.py,
# 512 KiB blocks, every block's sha256 and the LINEAR aggregate checksum verified):
#   * a 2 GiB sparse image (BENCH_DATA_MIB of incompressible and compressible data spread over
#     it, some written zero regions, the rest holes) is uploaded by each tool, alternating runs;
#   * prints both times, the ratio ours/coldsnap (target: <= BENCH_MAX_RATIO, 1.0) and the requests
#     each tool made (from the server's /_loopback/stats);
#   * checks that both snapshots reconstruct the image byte for byte.
# coldsnap runs with --omit-zero-blocks (by default it sends all-zero blocks too).
#
# coldsnap is not part of .ci/run (it takes 15-30 min to compile here): it is installed on demand
# with `cargo install coldsnap --locked` into $TWOLITER_TOOLS_DIR (default /var/tmp/twoliter-tools)
# and reused from there.
#
# Usage: scripts/bench-publish.sh
# Environment:
#   BENCH_IMAGE_MIB=2048      image size
#   BENCH_DATA_MIB=384        bytes of data in it (3/4 random, 1/4 compressible), in 4 MiB extents
#   BENCH_RUNS=2              timed runs per tool (alternating order; the best counts)
#   BENCH_MAX_RATIO=1.0       the ratio above which the benchmark check FAILs
#   BENCH_WORK=/var/tmp/twoliter-bench/work   the image is cached here between runs
#   BENCH_KEEP=0              1: keep this run's server store (printed at the end)
#   BENCH_SKIP_OURS=0         1: time coldsnap alone (e.g. before twoliter-publish exists)
#   BIN_DIR                   where twoliter-publish is [default: build it: cargo build --release
#                             -p twoliter-publish into $CARGO_TARGET_DIR/release]
#   CARGO_TARGET_DIR=/var/tmp/twoliter-bench/target
#   TWOLITER_TOOLS_DIR=/var/tmp/twoliter-tools   coldsnap's install root (bin/coldsnap)
#   COLDSNAP                  a coldsnap binary to use instead
#   COLDSNAP_VERSION          pin the coldsnap version installed [default: the newest]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
SERVER="$SCRIPT_DIR/publish-e2e/ebs_server.py"
NAME=bench-publish

IMAGE_MIB="${BENCH_IMAGE_MIB:-2048}"
DATA_MIB="${BENCH_DATA_MIB:-384}"
RUNS="${BENCH_RUNS:-2}"
MAX_RATIO="${BENCH_MAX_RATIO:-1.0}"
BENCH_WORK="${BENCH_WORK:-/var/tmp/twoliter-bench/work}"
SKIP_OURS="${BENCH_SKIP_OURS:-0}"
TOOLS_DIR="${TWOLITER_TOOLS_DIR:-/var/tmp/twoliter-tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/twoliter-bench/target}"

# shellcheck source=bench-common.sh
source "$SCRIPT_DIR/bench-common.sh"

[[ "$IMAGE_MIB" =~ ^[1-9][0-9]*$ ]] || die "BENCH_IMAGE_MIB must be a positive integer (got '$IMAGE_MIB')"
[[ "$DATA_MIB" =~ ^[0-9]+$ ]] && ((DATA_MIB * 2 <= IMAGE_MIB)) \
    || die "BENCH_DATA_MIB must be an integer of at most half of BENCH_IMAGE_MIB (got '$DATA_MIB')"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer (got '$RUNS')"
for tool in python3 curl; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

mkdir -p "$BENCH_WORK"
RUN_DIR="$(mktemp -d "$BENCH_WORK/publish.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "kept: $RUN_DIR"
    else
        rm -rf "$RUN_DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------ binaries
OURS=""
if [[ "$SKIP_OURS" != 1 ]]; then
    if [[ -n "${BIN_DIR:-}" ]]; then
        OURS="$BIN_DIR/twoliter-publish"
        [[ -x "$OURS" ]] || die "no twoliter-publish at $OURS (BIN_DIR)"
    else
        note "building twoliter-publish (release) into $CARGO_TARGET_DIR"
        out="$(cd "$REPO" && cargo build --release --quiet -p twoliter-publish 2>&1)" \
            || die "cargo build --release -p twoliter-publish" "$out"
        OURS="$CARGO_TARGET_DIR/release/twoliter-publish"
    fi
    "$OURS" snapshot upload --help >/dev/null 2>&1 \
        || die "$OURS has no \`snapshot upload\` (BENCH_SKIP_OURS=1 times coldsnap alone)"
    echo "ours:     $OURS"
fi

reference_tool coldsnap "${COLDSNAP:-}" "${COLDSNAP_VERSION:-}"
COLDSNAP_BIN="$REFERENCE_BIN"
echo "coldsnap: $COLDSNAP_BIN"

# ------------------------------------------------------------------------------------ image
IMAGE="$BENCH_WORK/publish-image-$IMAGE_MIB-$DATA_MIB.raw"
stamp="$IMAGE.done"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "v1 $IMAGE_MIB $DATA_MIB" ]]; then
    note "generating a $IMAGE_MIB MiB sparse image with $DATA_MIB MiB of data in $IMAGE (cached)"
    rm -f "$IMAGE" "$stamp"
    python3 - "$IMAGE.tmp" "$IMAGE_MIB" "$DATA_MIB" <<'EOF' || die "generating the image"
import os, random, sys
path, image_mib, data_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
MIB, EXTENT = 1 << 20, 4 << 20
rng = random.Random(20260101)
extents = data_mib * MIB // EXTENT
slots = image_mib * MIB // EXTENT
# Data extents spread evenly; a written-zero extent after every 8th (zero blocks, not holes).
stride = slots // max(extents, 1)
text = b"".join(b"line %08d: the quick brown fox jumps over the lazy dog\n" % i for i in range(80000))
with open(path, "wb") as f:
    for k in range(extents):
        f.seek(k * stride * EXTENT)
        if k % 4 == 3:
            f.write(text[:EXTENT])                      # compressible
        else:
            f.write(rng.randbytes(EXTENT))              # incompressible
        if k % 8 == 0 and stride > 1:
            f.write(bytes(EXTENT))                      # written zeros
    f.truncate(image_mib * MIB)
EOF
    mv "$IMAGE.tmp" "$IMAGE"
    echo "v1 $IMAGE_MIB $DATA_MIB" >"$stamp"
fi
echo "image:    $IMAGE ($IMAGE_MIB MiB, $(du -m "$IMAGE" | cut -f1) MiB allocated)"

# ------------------------------------------------------------------------------------ server
STORE="$RUN_DIR/store"
python3 "$SERVER" --store "$STORE" --port 0 >"$RUN_DIR/server.out" 2>"$RUN_DIR/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do
    [[ -s "$RUN_DIR/server.out" ]] && break
    sleep 0.1
done
PORT="$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$RUN_DIR/server.out")"
[[ -n "$PORT" ]] || die "the loopback EBS server did not start" "$(cat "$RUN_DIR/server.err")"
ENDPOINT="http://127.0.0.1:$PORT"
echo "server:   $ENDPOINT (store $STORE)"
export AWS_ENDPOINT_URL_EBS="$ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-west-2 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true
stats() { curl -sf "$ENDPOINT/_loopback/stats"; }

# ------------------------------------------------------------------------------------ timing
declare -A BEST=() REQUESTS=() SNAPSHOT=()
# run_tool <tool> <run>: one timed upload; records the best time, the requests it made and its
# snapshot; the image is in the page cache (read once before).
run_tool() {
    local tool="$1" run="$2" start end secs log="$RUN_DIR/$1-$2.log" snap
    stats >"$RUN_DIR/before.json" || die "GET /_loopback/stats"
    cat "$IMAGE" >/dev/null
    if [[ "$tool" == coldsnap ]]; then
        start=$EPOCHREALTIME
        "$COLDSNAP_BIN" --endpoint "$ENDPOINT" upload --no-progress --omit-zero-blocks "$IMAGE" \
            >"$log" 2>"$log.err" || die "coldsnap upload (run $run)" "$(cat "$log" "$log.err")"
        end=$EPOCHREALTIME
        snap="$(grep -o 'snap-[0-9a-f]*' "$log" | head -1)"
    else
        start=$EPOCHREALTIME
        "$OURS" snapshot upload "$IMAGE" --json >"$log" 2>"$log.err" \
            || die "twoliter-publish snapshot upload (run $run)" "$(cat "$log" "$log.err")"
        end=$EPOCHREALTIME
        snap="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot_id"])' "$log")"
    fi
    [[ -n "$snap" ]] || die "$tool printed no snapshot id" "$(cat "$log" "$log.err")"
    stats >"$RUN_DIR/after.json" || die "GET /_loopback/stats"
    secs="$(python3 -c "print(f'{$end - $start:.3f}')")"
    REQUESTS[$tool]="$(python3 - "$RUN_DIR/before.json" "$RUN_DIR/after.json" <<'EOF'
import json, sys
a, b = (json.load(open(p))["requests"] for p in sys.argv[1:3])
d = {k: b[k] - a.get(k, 0) for k in b if b[k] != a.get(k, 0)}
print(f"{sum(d.values())} (" + ", ".join(f"{k} {v}" for k, v in sorted(d.items())) + ")")
EOF
)"
    printf '  run %d  %-9s %8s s   %s   requests %s\n' "$run" "$tool" "$secs" "$snap" "${REQUESTS[$tool]}"
    # Keep only the newest snapshot of each tool: the store holds every block written.
    [[ -n "${SNAPSHOT[$tool]:-}" ]] && rm -f "$STORE/${SNAPSHOT[$tool]}.img"
    SNAPSHOT[$tool]="$snap"
    if [[ -z "${BEST[$tool]:-}" ]] || python3 -c "import sys; sys.exit(not $secs < ${BEST[$tool]})"; then
        BEST[$tool]="$secs"
    fi
}

note "timing ($RUNS runs per tool, alternating; image in the page cache)"
for run in $(seq "$RUNS"); do
    if [[ -z "$OURS" ]]; then
        run_tool coldsnap "$run"
    elif ((run % 2)); then
        run_tool coldsnap "$run"
        run_tool ours "$run"
    else
        run_tool ours "$run"
        run_tool coldsnap "$run"
    fi
done

# ------------------------------------------------------------------------------------ checks
note "checks"
stats >"$RUN_DIR/stats.json" || die "GET /_loopback/stats"
for tool in ours coldsnap; do
    snap="${SNAPSHOT[$tool]:-}"
    [[ -n "$snap" ]] || continue
    if out="$(python3 - "$IMAGE" "$STORE/$snap.img" "$RUN_DIR/stats.json" "$snap" <<'EOF' 2>&1
import json, sys
image, stored, stats, snap = sys.argv[1:5]
state = json.load(open(stats))["snapshots"][snap]
if state["status"] != "completed":
    sys.exit(f"snapshot {snap} is {state['status']}: {state['error']}")
CHUNK = 8 << 20
with open(image, "rb") as a, open(stored, "rb") as b:
    offset = 0
    while True:
        x, y = a.read(CHUNK), b.read(CHUNK)
        if not x and not y:
            break
        n = min(len(x), len(y))
        if x[:n] != y[:n] or x[n:].count(0) != len(x) - n or y[n:].count(0) != len(y) - n:
            sys.exit(f"differs in the 8 MiB chunk at offset {offset}")
        offset += CHUNK
print(f"{snap}: completed, {state['blocks_received']} blocks")
EOF
    )"; then
        pass "$tool's snapshot reconstructs the image byte for byte ($out)"
    else
        check_fail "$tool's snapshot does not reconstruct the image" "$out"
    fi
done

# ------------------------------------------------------------------------------------ summary
echo
echo "== snapshot upload benchmark: $IMAGE_MIB MiB image, $DATA_MIB MiB data, best of $RUNS, $(nproc) cores"
printf '%-10s %10s   %s\n' tool seconds 'requests (last run)'
for tool in coldsnap ours; do
    [[ -n "${BEST[$tool]:-}" ]] || continue
    printf '%-10s %10s   %s\n' "$tool" "${BEST[$tool]}" "${REQUESTS[$tool]}"
done
if [[ -n "${BEST[ours]:-}" ]]; then
    check_ratio "${BEST[ours]}" "${BEST[coldsnap]}" "snapshot upload" coldsnap
else
    skip "ours and the ratio (BENCH_SKIP_OURS=1)"
fi
[[ "${BENCH_KEEP:-0}" == 1 ]] && echo "store: $STORE"
echo "$NAME: $PASSED passed, $FAILED failed, $SKIPPED skipped"
((FAILED == 0))
