#!/usr/bin/env python3
"""Helpers for scripts/bench-repo.sh (standard library only).

  gen DIR COUNT TOTAL_BYTES     writes COUNT files totalling TOTAL_BYTES into DIR, content read
                                from stdin (a deterministic stream); prints the size spread
  targets REPO_DIR              prints "name sha256 length" for every target of the newest
                                targets metadata in REPO_DIR/metadata, sorted
  field JSON_FILE KEY           prints a top-level field of a JSON report
  seconds START END             prints END - START (EPOCHREALTIME values) with 3 decimals
"""
import json
import os
import re
import sys


def sizes(count, total):
    """Mixed sizes: 4 large files holding half the bytes (image-like), the rest spread over
    many small files (about 20x between the smallest and the largest), a few of them tiny."""
    if count <= 0:
        return []
    large = 4 if count >= 10 else 0
    out = []
    if large:
        each = total // 2 // large
        out += [each] * large
    rest = total - sum(out)
    small = count - large
    weights = []
    for i in range(small):
        if i % 50 == 7:
            weights.append(0)  # tiny file: fixed size below
        else:
            weights.append(5 + (i * 37) % 100)
    tiny = [100 + (i % 4000) for i in range(small)]
    tiny_total = sum(t for t, w in zip(tiny, weights) if w == 0)
    budget = max(rest - tiny_total, 0)
    wsum = sum(weights) or 1
    for i, w in enumerate(weights):
        out.append(tiny[i] if w == 0 else budget * w // wsum)
    out[-1] += total - sum(out)  # exact total
    return out


def names(count):
    large = 4 if count >= 10 else 0
    result = [f"bench-os-{k}.img.lz4" for k in range(large)]
    result += [f"file-{i:05d}.bin" for i in range(count - large)]
    return result


def gen(directory, count, total):
    os.makedirs(directory, exist_ok=True)
    stream = sys.stdin.buffer
    chunk = 1 << 20
    plan = list(zip(names(count), sizes(count, total)))
    for name, size in plan:
        with open(os.path.join(directory, name), "wb") as f:
            left = size
            while left:
                data = stream.read(min(chunk, left))
                if not data:
                    sys.exit("bench.py gen: the content stream ended early")
                f.write(data)
                left -= len(data)
    s = sorted(size for _, size in plan)
    print(f"{count} files, {sum(s)} bytes; smallest {s[0]} B, median {s[len(s) // 2]} B, "
          f"largest {s[-1]} B")


def targets(repo_dir):
    meta = os.path.join(repo_dir, "metadata")
    best, best_version = None, -1
    for entry in os.listdir(meta):
        m = re.fullmatch(r"(?:(\d+)\.)?targets\.json", entry)
        if m:
            version = int(m.group(1)) if m.group(1) else 0
            if version > best_version:
                best, best_version = entry, version
    if best is None:
        sys.exit(f"bench.py targets: no targets metadata in {meta}")
    with open(os.path.join(meta, best)) as f:
        signed = json.load(f)["signed"]
    for name in sorted(signed["targets"]):
        t = signed["targets"][name]
        print(name, t["hashes"]["sha256"], t["length"])


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(args[0], int(args[1]), int(args[2]))
    elif cmd == "targets":
        targets(args[0])
    elif cmd == "field":
        with open(args[0]) as f:
            value = json.load(f)[args[1]]
        print(len(value) if isinstance(value, list) else value)
    elif cmd == "seconds":
        print(f"{float(args[1]) - float(args[0]):.3f}")
    else:
        sys.exit(f"bench.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
