#!/usr/bin/env bash
# The apiserver benchmark (`cargo bench -p apiserver`: the real server and the apiclient library
# on a Unix socket) of this tree side by side with an earlier revision's, in one run on this
# machine: both are built in release mode (the earlier one in a worktree with a target directory
# of its own), then run in alternating rounds, and each measurement's median p50, p99 and
# requests/s over the rounds is printed for both, with the ratio.
#
#   scripts/bench-apiserver.sh [REV] [ROUNDS]   # REV default: 74fa6c2 (before hyper); ROUNDS 5
#
# Run it on a quiet machine and say so with the figures; the bench itself is runtime/apiserver/
# benches/api.rs. Environment: BENCH_FILTER (a word of the measurement names, default
# "GET /settings (500"), BENCH_WORK (worktree and target directories, default /var/tmp/bench-apiserver).
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:-74fa6c2}"
rounds="${2:-5}"
filter="${BENCH_FILTER:-GET /settings (500}"
work="${BENCH_WORK:-/var/tmp/bench-apiserver}"
mkdir -p "$work"

# bench_binary <source dir> <target dir>: builds the bench and prints its executable.
bench_binary() {
    (cd "$1" && CARGO_TARGET_DIR="$2" cargo bench -p apiserver --no-run --message-format=json 2>/dev/null) |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "api" and m.get("executable"):
        print(m["executable"])'
}

base_tree="$work/tree-$rev"
if [[ ! -d "$base_tree" ]]; then
    git worktree add --detach "$base_tree" "$rev" >/dev/null
fi
echo "building $rev and this tree (release)..."
base_bin="$(bench_binary "$base_tree" "$work/target-base")"
this_bin="$(bench_binary "$PWD" "$work/target-this")"
[[ -x "$base_bin" && -x "$this_bin" ]] || { echo "bench-apiserver: a bench did not build" >&2; exit 1; }

results="$work/results.txt"
: >"$results"
for round in $(seq "$rounds"); do
    for side in base this; do
        bin="$base_bin"
        [[ "$side" == this ]] && bin="$this_bin"
        "$bin" --bench "$filter" | sed -n "s/^/$side|/p" >>"$results"
    done
    echo "round $round of $rounds done"
done

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; base = $rev, this = $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')"
python3 - "$results" <<'EOF'
import re, statistics, sys
units = {"ns": 1e-3, "µs": 1, "ms": 1e3, "s": 1e6}
def us(text):
    number, unit = re.fullmatch(r"([0-9.]+)(ns|µs|ms|s)", text).groups()
    return float(number) * units[unit]
data = {}
for line in open(sys.argv[1]):
    side, rest = line.rstrip("\n").split("|", 1)
    m = re.match(r"(.*): \d+ requests, ([0-9.]+) req/s, p50 (\S+), p99 (\S+)", rest)
    if not m:
        continue
    name, rps, p50, p99 = m.group(1), float(m.group(2)), us(m.group(3)), us(m.group(4))
    data.setdefault(name, {}).setdefault(side, []).append((rps, p50, p99))
print(f"{'measurement (median of rounds)':<66} {'side':<5} {'req/s':>8} {'p50 µs':>8} {'p99 µs':>8}")
for name, sides in data.items():
    med = {s: [statistics.median(v[i] for v in vals) for i in range(3)] for s, vals in sides.items()}
    for side in ("base", "this"):
        if side in med:
            rps, p50, p99 = med[side]
            print(f"{name:<66} {side:<5} {rps:>8.0f} {p50:>8.1f} {p99:>8.1f}")
    if "base" in med and "this" in med:
        b, t = med["base"], med["this"]
        print(f"{'':<66} {'this/base':<5} {t[0]/b[0]:>7.2f}x {t[1]/b[1]:>7.2f}x {t[2]/b[2]:>7.2f}x")
EOF
