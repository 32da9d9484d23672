#!/usr/bin/env bash
# Benchmark and interop check for `twoliter repo create` against tuftool (issue 8):
#   * times `twoliter repo create --add-targets IN` and `tuftool create --add-targets IN` on the
#     same 1,000 input files (~2 GiB), same root.json and key, alternating runs, best of each;
#     prints both times, MB/s and the ratio twoliter/tuftool (target: <= BENCH_MAX_RATIO, 1.0);
#   * interop: the tuftool-made repository passes `twoliter repo validate --validate-targets`,
#     and ours passes `tuftool download` (with our root.json), the bytes matching the inputs;
#     both repositories list the same targets (name, sha256, length).
#
# tuftool is not part of .ci/run (it takes 15-30 min to compile here): it is installed on demand
# with `cargo install tuftool --locked` into $TWOLITER_TOOLS_DIR (default /var/tmp/twoliter-tools)
# and reused from there.
#
# Usage: scripts/bench-repo.sh
# Environment:
#   BENCH_TARGETS=1000        number of input files
#   BENCH_TOTAL_MIB=2048      their total size (4 large files hold half; the rest are small)
#   BENCH_RUNS=2              timed runs per tool (alternating order; the best counts)
#   BENCH_CACHE=warm          warm: inputs read into the page cache before every timed run;
#                             cold: `echo 3 > /proc/sys/vm/drop_caches` before every timed run
#   BENCH_MAX_RATIO=1.0       the ratio above which the benchmark check FAILs
#   BENCH_WORK=/var/tmp/twoliter-bench/work   inputs are cached here between runs
#   BENCH_KEEP=0              1: keep this run's repositories (printed at the end)
#   BENCH_SKIP_TUFTOOL=0      1: no tuftool (root made by `twoliter repo init`; twoliter timed alone)
#   BIN_DIR                   where twoliter is [default: build it: cargo build --release -p
#                             twoliter into $CARGO_TARGET_DIR/release]
#   CARGO_TARGET_DIR=/var/tmp/twoliter-bench/target
#   TWOLITER_TOOLS_DIR=/var/tmp/twoliter-tools   tuftool's install root (bin/tuftool)
#   TUFTOOL                   a tuftool binary to use instead
#   TUFTOOL_VERSION           pin the tuftool version installed [default: the newest]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
HELPER="$SCRIPT_DIR/bench-repo/bench.py"
NAME=bench-repo

TARGETS="${BENCH_TARGETS:-1000}"
TOTAL_MIB="${BENCH_TOTAL_MIB:-2048}"
RUNS="${BENCH_RUNS:-2}"
CACHE="${BENCH_CACHE:-warm}"
MAX_RATIO="${BENCH_MAX_RATIO:-1.0}"
BENCH_WORK="${BENCH_WORK:-/var/tmp/twoliter-bench/work}"
SKIP_TUFTOOL="${BENCH_SKIP_TUFTOOL:-0}"
TOOLS_DIR="${TWOLITER_TOOLS_DIR:-/var/tmp/twoliter-tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/twoliter-bench/target}"

# shellcheck source=bench-common.sh
source "$SCRIPT_DIR/bench-common.sh"

[[ "$TARGETS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TARGETS must be a positive integer (got '$TARGETS')"
[[ "$TOTAL_MIB" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TOTAL_MIB must be a positive integer (got '$TOTAL_MIB')"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer (got '$RUNS')"
[[ "$CACHE" == warm || "$CACHE" == cold ]] || die "BENCH_CACHE must be warm or cold (got '$CACHE')"
for tool in python3 openssl sha512sum; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

mkdir -p "$BENCH_WORK"
RUN_DIR="$(mktemp -d "$BENCH_WORK/run.XXXXXX")"
cleanup() {
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "kept: $RUN_DIR"
    else
        rm -rf "$RUN_DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------ binaries
if [[ -n "${BIN_DIR:-}" ]]; then
    TWOLITER="$BIN_DIR/twoliter"
    [[ -x "$TWOLITER" ]] || die "no twoliter at $TWOLITER (BIN_DIR)"
else
    note "building twoliter (release) into $CARGO_TARGET_DIR"
    out="$(cd "$REPO" && cargo build --release --quiet -p twoliter 2>&1)" \
        || die "cargo build --release -p twoliter" "$out"
    TWOLITER="$CARGO_TARGET_DIR/release/twoliter"
fi
# (The help is read whole first: `grep -q` on a pipe can close it early and fail the writer.)
help="$("$TWOLITER" repo create --help 2>/dev/null || true)"
grep -q -- '--add-targets' <<<"$help" || die "$TWOLITER has no \`repo create --add-targets\`"

TUFTOOL_BIN=""
if [[ "$SKIP_TUFTOOL" != 1 ]]; then
    reference_tool tuftool "${TUFTOOL:-}" "${TUFTOOL_VERSION:-}"
    TUFTOOL_BIN="$REFERENCE_BIN"
    echo "tuftool:  $TUFTOOL_BIN ($("$TUFTOOL_BIN" --version 2>/dev/null || echo '?'))"
fi
echo "twoliter: $TWOLITER"

# ------------------------------------------------------------------------------------ inputs
TOTAL_BYTES=$((TOTAL_MIB * 1024 * 1024))
INPUTS="$BENCH_WORK/inputs-$TARGETS-$TOTAL_MIB"
stamp="$INPUTS.done"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "v1 $TARGETS $TOTAL_BYTES" ]]; then
    note "generating $TARGETS input files, $TOTAL_MIB MiB, in $INPUTS (cached for later runs)"
    rm -rf "$INPUTS" "$INPUTS.tmp" "$stamp"
    # A deterministic stream: AES-128-CTR of zeros under a fixed key. openssl stops on SIGPIPE
    # once the generator has read what it needs.
    (openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
        -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null || true) \
        | python3 "$HELPER" gen "$INPUTS.tmp" "$TARGETS" "$TOTAL_BYTES" \
        || die "generating the inputs"
    mv "$INPUTS.tmp" "$INPUTS"
    echo "v1 $TARGETS $TOTAL_BYTES" >"$stamp"
fi
count="$(find "$INPUTS" -maxdepth 1 -type f | wc -l)"
[[ "$count" == "$TARGETS" ]] || die "$INPUTS holds $count files, expected $TARGETS"
echo "inputs:   $INPUTS ($TARGETS files, $TOTAL_MIB MiB)"

# ------------------------------------------------------------------------------------ keys, root
PROJECT="$RUN_DIR/project"
mkdir -p "$PROJECT/keys" "$RUN_DIR/published/metadata" "$RUN_DIR/published/targets"
KEY="$PROJECT/keys/bench.pem"
ROOT="$PROJECT/root.json"
cat >"$PROJECT/Twoliter.toml" <<'EOF'
# A minimal project for scripts/bench-repo.sh: only `twoliter repo` is used.
schema-version = 1
release-version = "0.1.0"

[sdk]
name = "twoliter-sdk"
version = "0.1.0"
local = true
EOF
out="$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$KEY" 2>&1)" \
    || die "openssl genpkey" "$out"
chmod 600 "$KEY"
if [[ -n "$TUFTOOL_BIN" ]]; then
    # tuftool's documented flow; the same root.json and key then serve both tools.
    out="$(
        set -e
        "$TUFTOOL_BIN" root init "$ROOT"
        "$TUFTOOL_BIN" root expire "$ROOT" 'in 52 weeks'
        for role in root snapshot targets timestamp; do
            "$TUFTOOL_BIN" root set-threshold "$ROOT" "$role" 1
        done
        "$TUFTOOL_BIN" root add-key "$ROOT" -k "$KEY" -r root -r snapshot -r targets -r timestamp
        "$TUFTOOL_BIN" root sign "$ROOT" -k "$KEY"
    ) 2>&1" || die "tuftool root init/expire/set-threshold/add-key/sign" "$out"
    echo "root:     made by tuftool root (RSA 3072 key for every role)"
else
    printf '[repo.bench]\nroot_role_path = "root.json"\n' >"$PROJECT/Infra.toml"
    out="$("$TWOLITER" --project-path "$PROJECT" repo init --repo bench --out "$ROOT" \
        --root-key "$KEY" --signing-key "$KEY" 2>&1)" || die "twoliter repo init" "$out"
    echo "root:     made by twoliter repo init (tuftool skipped; RSA 3072 key for every role)"
fi
cat >"$PROJECT/Infra.toml" <<EOF
[repo.bench]
root_role_path = "root.json"
root_role_sha512 = "$(sha512sum "$ROOT" | cut -d' ' -f1)"
signing_keys = { file = { path = "keys/bench.pem" } }
# Nothing is published here, so \`repo create\` starts a new repository.
metadata_base_url = "file://$RUN_DIR/published/metadata/"
targets_url = "file://$RUN_DIR/published/targets/"
EOF
tl() { "$TWOLITER" --project-path "$PROJECT" "$@"; }

# ------------------------------------------------------------------------------------ timing
prepare_cache() {
    sync
    if [[ "$CACHE" == cold ]]; then
        echo 3 >/proc/sys/vm/drop_caches 2>/dev/null \
            || die "BENCH_CACHE=cold needs root to write /proc/sys/vm/drop_caches"
    else
        cat "$INPUTS"/* >/dev/null
    fi
}

TUF_OUT="$RUN_DIR/tuftool-repo"
declare -A BEST=()
declare -a LINES=()
# run_tool <tool> <run>: one timed run; records the best time; the outputs of the last run stay.
run_tool() {
    local tool="$1" run="$2" start end secs log="$RUN_DIR/$1-$2.log" version
    if [[ "$tool" == tuftool ]]; then rm -rf "$TUF_OUT"; else rm -rf "$PROJECT/build"; fi
    prepare_cache
    if [[ "$tool" == tuftool ]]; then
        version="$(date +%s)"
        start=$EPOCHREALTIME
        "$TUFTOOL_BIN" create --root "$ROOT" --key "$KEY" --add-targets "$INPUTS" \
            --outdir "$TUF_OUT" \
            --targets-expires 'in 14 days' --targets-version "$version" \
            --snapshot-expires 'in 14 days' --snapshot-version "$version" \
            --timestamp-expires 'in 7 days' --timestamp-version "$version" >"$log" 2>&1 \
            || die "tuftool create (run $run)" "$(cat "$log")"
        end=$EPOCHREALTIME
    else
        start=$EPOCHREALTIME
        tl repo create --repo bench --add-targets "$INPUTS" --json >"$log" 2>"$log.err" \
            || die "twoliter repo create --add-targets (run $run)" "$(cat "$log" "$log.err")"
        end=$EPOCHREALTIME
    fi
    secs="$(python3 "$HELPER" seconds "$start" "$end")"
    LINES+=("$(printf '  run %d  %-9s %8s s' "$run" "$tool" "$secs")")
    printf '  run %d  %-9s %8s s\n' "$run" "$tool" "$secs"
    if [[ -z "${BEST[$tool]:-}" ]] || python3 -c "import sys; sys.exit(not $secs < ${BEST[$tool]})"; then
        BEST[$tool]="$secs"
    fi
}

note "timing ($RUNS runs per tool, alternating; cache: $CACHE)"
echo "  tuftool create: walks IN, sha256 of each file (tokio tasks), signs targets/snapshot/"
echo "    timestamp, symlinks every target into OUT/targets, writes metadata"
echo "  twoliter repo create --add-targets: checks the keys, probes metadata_base_url (empty: a"
echo "    new repository), sha256 of each file (rayon), signs, hard-links every target into"
echo "    build/repos/bench/..., writes metadata (+ an empty manifest.json target); both:"
echo "    consistent snapshots, the same RSA 3072 key for every role, 2w/2w/1w expiry"
for run in $(seq "$RUNS"); do
    if [[ -z "$TUFTOOL_BIN" ]]; then
        run_tool twoliter "$run"
    elif ((run % 2)); then
        run_tool tuftool "$run"
        run_tool twoliter "$run"
    else
        run_tool twoliter "$run"
        run_tool tuftool "$run"
    fi
done

# ------------------------------------------------------------------------------------ checks
OUR_LOG="$RUN_DIR/twoliter-$RUNS.log"
OUR_DIR="$(python3 "$HELPER" field "$OUR_LOG" dir)"
[[ -d "$OUR_DIR/metadata" && -d "$OUR_DIR/targets" ]] \
    || die "twoliter's report names $OUR_DIR, which holds no metadata/ and targets/"
ours_total="$(python3 "$HELPER" field "$OUR_LOG" total_targets)"
note "checks"
# Our repository lists every input (and possibly a manifest.json of its own).
python3 "$HELPER" targets "$OUR_DIR" >"$RUN_DIR/ours.targets" \
    || die "reading our targets metadata"
grep -v '^manifest\.json ' "$RUN_DIR/ours.targets" >"$RUN_DIR/ours.inputs" || true
if [[ "$(wc -l <"$RUN_DIR/ours.inputs")" == "$TARGETS" ]]; then
    pass "twoliter repo create: $ours_total targets ($TARGETS inputs$(
        grep -q '^manifest\.json ' "$RUN_DIR/ours.targets" && echo ' + manifest.json'))"
else
    check_fail "twoliter repo create: $(wc -l <"$RUN_DIR/ours.inputs") input targets, expected $TARGETS"
fi
out="$(tl repo validate --repo bench --dir "$OUR_DIR" --validate-targets 2>&1)" \
    && pass "twoliter repo validate --validate-targets on ours: $out" \
    || check_fail "twoliter repo validate --validate-targets on ours" "$out"

if [[ -n "$TUFTOOL_BIN" ]]; then
    # 1. tuftool's repository passes our validate (its targets are symlinks to the inputs).
    if out="$(tl repo validate --repo bench --dir "$TUF_OUT" --validate-targets --json 2>&1)"; then
        printf '%s' "$out" >"$RUN_DIR/validate.json"
        verified="$(python3 "$HELPER" field "$RUN_DIR/validate.json" targets_verified 2>&1)" || true
        if [[ "$verified" == "$TARGETS" ]]; then
            pass "twoliter repo validate --validate-targets on tuftool's repository ($verified targets verified)"
        else
            check_fail "twoliter validated '$verified' of tuftool's $TARGETS targets" "$out"
        fi
    else
        check_fail "twoliter repo validate --validate-targets on tuftool's repository" "$out"
    fi
    # 2. Both list the same inputs with the same hashes and lengths.
    python3 "$HELPER" targets "$TUF_OUT" >"$RUN_DIR/tuftool.targets" \
        || die "reading tuftool's targets metadata"
    if cmp -s "$RUN_DIR/tuftool.targets" "$RUN_DIR/ours.inputs"; then
        pass "same targets in both repositories (name, sha256, length)"
    else
        check_fail "the repositories list different targets" \
            "$(diff "$RUN_DIR/tuftool.targets" "$RUN_DIR/ours.inputs" | head -20)"
    fi
    # 3. tuftool downloads ours with our root.json; the bytes match the inputs.
    DL="$RUN_DIR/download"
    if out="$("$TUFTOOL_BIN" download --root "$ROOT" --metadata-url "file://$OUR_DIR/metadata/" \
        --targets-url "file://$OUR_DIR/targets/" "$DL" 2>&1)"; then
        bad=0
        for f in "$INPUTS"/*; do
            cmp -s "$f" "$DL/$(basename "$f")" || { bad=$((bad + 1)); echo "differs: $(basename "$f")"; }
        done >"$RUN_DIR/download.diff"
        got="$(find "$DL" -maxdepth 1 -type f | wc -l)"
        if [[ "$bad" == 0 ]]; then
            pass "tuftool download of ours with our root.json: $got files, all $TARGETS inputs byte-identical"
        else
            check_fail "tuftool download of ours: $bad of $TARGETS inputs differ" "$(cat "$RUN_DIR/download.diff")"
        fi
    else
        check_fail "tuftool download of our repository" "$out"
    fi
    rm -rf "$DL"
fi

# ------------------------------------------------------------------------------------ summary
echo
echo "== repo create benchmark: $TARGETS targets, $TOTAL_MIB MiB, cache $CACHE, best of $RUNS, $(nproc) cores"
printf '%-10s %10s %10s\n' tool seconds 'MB/s'
for tool in tuftool twoliter; do
    [[ -n "${BEST[$tool]:-}" ]] || continue
    printf '%-10s %10s %10s\n' "$tool" "${BEST[$tool]}" \
        "$(python3 -c "print(f'{$TOTAL_BYTES / 1e6 / max(${BEST[$tool]}, 1e-9):.1f}')")"
done
if [[ -n "${BEST[tuftool]:-}" ]]; then
    check_ratio "${BEST[twoliter]}" "${BEST[tuftool]}" "repo create" tuftool
else
    skip "ratio and tuftool interop (BENCH_SKIP_TUFTOOL=1)"
fi
[[ "${BENCH_KEEP:-0}" == 1 ]] && echo "repositories: twoliter $OUR_DIR; tuftool $TUF_OUT"
echo "$NAME: $PASSED passed, $FAILED failed, $SKIPPED skipped"
((FAILED == 0))
