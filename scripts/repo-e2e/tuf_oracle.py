#!/usr/bin/env python3
"""Independent TUF client check: loads a repository with python-tuf's ngclient.

The repository end-to-end test signs TUF repositories with our own tooling; this script proves
that another TUF implementation (python-tuf, the reference client) accepts them. Starting from a
trusted root, it runs the full TUF client workflow (root rotation, timestamp, snapshot, targets,
signature/threshold/version/expiry/length/hash checks), then fetches targets of the top-level
targets role, which ngclient verifies against their recorded length and hashes. Consistent
snapshots (<version>.<role>.json metadata, <sha256>.<name> targets) are handled by ngclient's
default configuration.

usage: tuf_oracle.py --root ROOT_JSON --metadata-url URL --targets-url URL
                     [--expect-targets N] [--target NAME ...]

  --root            the trusted root.json to start from (any version of the repository's root)
  --metadata-url    base URL of the metadata (e.g. http://127.0.0.1:PORT/metadata)
  --targets-url     base URL of the targets (e.g. http://127.0.0.1:PORT/targets)
  --expect-targets  fail unless the top-level targets role lists exactly N targets
  --target          download only these targets (repeatable); default: every listed target

On success prints one JSON object on stdout and exits 0:
  {"root_version", "timestamp_version", "snapshot_version", "targets_version",
   "targets": [names listed by the top-level targets role, sorted], "downloaded": N,
   "bytes": total bytes downloaded}
On any failure prints "tuf_oracle: <what failed>: <ExceptionType>: <text>" on stderr, exits 1.

Only the standard library and python-tuf are used.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp
from tuf.ngclient import Updater, UpdaterConfig


class OracleError(Exception):
    """A check failed; the message says which."""


def _fail(what: str, err: BaseException) -> OracleError:
    """Wraps `err` (usually a tuf.api.exceptions type) with a description of the failed step."""
    kind = type(err)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return OracleError(f"{what}: {name}: {err}")


def _base_url(url: str) -> str:
    """ngclient joins file names onto base URLs, so they must end with exactly one slash."""
    return url.rstrip("/") + "/"


def run(args: argparse.Namespace, work: str) -> dict:
    metadata_dir = os.path.join(work, "metadata")
    target_dir = os.path.join(work, "targets")
    os.makedirs(metadata_dir)
    os.makedirs(target_dir)

    try:
        with open(args.root, "rb") as f:
            root_bytes = f.read()
        # ngclient's trust anchor: also placed as <metadata_dir>/root.json, the cached root.
        shutil.copyfile(args.root, os.path.join(metadata_dir, "root.json"))
    except OSError as err:
        raise _fail(f"reading trusted root {args.root}", err) from err

    # The defaults cap targets.json at 5 MB; a repository with many targets may legitimately be
    # bigger, and the cap is a denial-of-service guard, not a validity rule, so raise it.
    config = UpdaterConfig(targets_max_length=100_000_000, snapshot_max_length=20_000_000)
    try:
        updater = Updater(
            metadata_dir,
            _base_url(args.metadata_url),
            target_dir=target_dir,
            target_base_url=_base_url(args.targets_url),
            config=config,
            bootstrap=root_bytes,
        )
    except Exception as err:  # noqa: BLE001 - report whatever python-tuf raised
        raise _fail("loading trusted root", err) from err

    try:
        updater.refresh()
    except Exception as err:  # noqa: BLE001
        raise _fail("refreshing top-level metadata (root/timestamp/snapshot/targets)", err) from err

    # refresh() verified and persisted the top-level metadata to metadata_dir; read it back
    # (ngclient stores each role as <rolename>.json, root.json pointing at the newest root).
    def load(role_type, role: str):
        path = os.path.join(metadata_dir, f"{role}.json")
        try:
            return Metadata[role_type].from_file(path).signed
        except Exception as err:  # noqa: BLE001
            raise _fail(f"reading verified {role} metadata stored by ngclient", err) from err

    root = load(Root, "root")
    timestamp = load(Timestamp, "timestamp")
    snapshot = load(Snapshot, "snapshot")
    targets = load(Targets, "targets")
    names = sorted(targets.targets)

    if args.expect_targets is not None and len(names) != args.expect_targets:
        raise OracleError(
            f"top-level targets role lists {len(names)} targets, expected {args.expect_targets}"
        )

    wanted = args.target if args.target else names
    downloaded = 0
    total = 0
    for name in wanted:
        try:
            info = updater.get_targetinfo(name)
        except Exception as err:  # noqa: BLE001
            raise _fail(f"looking up target {name!r}", err) from err
        if info is None:
            raise OracleError(f"target {name!r} is not listed by the repository")
        try:
            path = updater.download_target(info)
        except Exception as err:  # noqa: BLE001
            raise _fail(f"downloading target {name!r}", err) from err
        total += os.path.getsize(path)
        downloaded += 1
        os.remove(path)  # verified; don't keep (possibly large) images around

    return {
        "root_version": root.version,
        "timestamp_version": timestamp.version,
        "snapshot_version": snapshot.version,
        "targets_version": targets.version,
        "targets": names,
        "downloaded": downloaded,
        "bytes": total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="trusted root.json")
    parser.add_argument("--metadata-url", required=True, help="base URL of the metadata")
    parser.add_argument("--targets-url", required=True, help="base URL of the targets")
    parser.add_argument("--expect-targets", type=int, help="expected number of targets")
    parser.add_argument("--target", action="append", help="only download this target (repeatable)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tuf-oracle-") as work:
        try:
            result = run(args, work)
        except OracleError as err:
            print(f"tuf_oracle: {err}", file=sys.stderr)
            return 1
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
