#!/usr/bin/env python3
"""Signs a TUF repository with python-tuf (an implementation independent of ours).

updog must load what another TUF implementation signed, so the update end-to-end test makes its
repository here rather than with our own tooling. Layout (consistent snapshots, as Bottlerocket's
repositories): <out>/metadata/{1.root.json,root.json,<v>.targets.json,<v>.snapshot.json,
timestamp.json} and <out>/targets/<sha256>.<name>.

usage: make_repo.py OUT TARGET_FILE... [--expires-days N]
Writes OUT/root.json (the trusted root to ship with hosts) too.
"""

import argparse
import datetime
import hashlib
import os
import shutil
import sys

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    SPECIFICATION_VERSION,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("targets", nargs="+")
    parser.add_argument("--expires-days", type=int, default=7)
    args = parser.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    expires = now + datetime.timedelta(days=args.expires_days)
    meta_dir = os.path.join(args.out, "metadata")
    targets_dir = os.path.join(args.out, "targets")
    os.makedirs(meta_dir, exist_ok=True)
    os.makedirs(targets_dir, exist_ok=True)

    signers = {role: CryptoSigner.generate_ed25519() for role in ("root", "targets", "snapshot", "timestamp")}
    root = Root(expires=expires, consistent_snapshot=True)
    for role, signer in signers.items():
        root.add_key(signer.public_key, role)

    targets = Targets(expires=expires)
    for path in args.targets:
        name = os.path.basename(path)
        target = TargetFile.from_file(name, path, ["sha256"])
        targets.targets[name] = target
        shutil.copyfile(path, os.path.join(targets_dir, f"{target.hashes['sha256']}.{name}"))

    def write(md: Metadata, name: str) -> bytes:
        md.signatures.clear()
        md.sign(signers[md.signed.type])
        data = md.to_bytes(JSONSerializer(compact=False))
        with open(os.path.join(meta_dir, name), "wb") as f:
            f.write(data)
        return data

    root_bytes = write(Metadata(root), "1.root.json")
    shutil.copyfile(os.path.join(meta_dir, "1.root.json"), os.path.join(meta_dir, "root.json"))
    with open(os.path.join(args.out, "root.json"), "wb") as f:
        f.write(root_bytes)

    targets_bytes = write(Metadata(targets), f"{targets.version}.targets.json")
    snapshot = Snapshot(expires=expires)
    snapshot.meta["targets.json"] = MetaFile(
        version=targets.version,
        length=len(targets_bytes),
        hashes={"sha256": hashlib.sha256(targets_bytes).hexdigest()},
    )
    snapshot_bytes = write(Metadata(snapshot), f"{snapshot.version}.snapshot.json")
    timestamp = Timestamp(expires=expires)
    timestamp.snapshot_meta = MetaFile(
        version=snapshot.version,
        length=len(snapshot_bytes),
        hashes={"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
    )
    write(Metadata(timestamp), "timestamp.json")
    print(f"signed TUF {'.'.join(SPECIFICATION_VERSION)} repository with {len(args.targets)} targets in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
