#!/usr/bin/env python3
"""A loopback stand-in for the EBS direct APIs, for tests and benchmarks.

It speaks the REST/JSON protocol of https://docs.aws.amazon.com/ebs/latest/APIReference/ as the
AWS SDKs do (SigV4 signatures are not checked):

  StartSnapshot        POST /snapshots                                  -> 201, JSON
  PutSnapshotBlock     PUT  /snapshots/{SnapshotId}/blocks/{BlockIndex} -> 201
                       headers x-amz-Data-Length, x-amz-Checksum, x-amz-Checksum-Algorithm,
                       optional x-amz-Progress; body: the block
  CompleteSnapshot     POST /snapshots/completion/{SnapshotId}           -> 202, JSON
                       headers x-amz-ChangedBlocksCount, x-amz-Checksum, x-amz-Checksum-Algorithm,
                       x-amz-Checksum-Aggregation-Method
  ListSnapshotBlocks   GET  /snapshots/{SnapshotId}/blocks?maxResults=&pageToken=&startingBlockIndex=
  GetSnapshotBlock     GET  /snapshots/{SnapshotId}/blocks/{BlockIndex}?blockToken=

Errors carry an `x-amzn-ErrorType` header and a JSON body `{"message": ..., "Reason": ...}`.

Every block's length and SHA-256 are checked against its headers; at completion the changed
blocks count and the LINEAR aggregate checksum (SHA-256 of the concatenated raw SHA-256 digests of
the blocks in ascending index order) are checked; a mismatch is a ValidationException and leaves the
snapshot in state `error`. StartSnapshot is idempotent on its ClientToken. Blocks are written to a
sparse file per snapshot, `STORE/<snapshot-id>.img` (as long as the last block written), so a test
can compare the snapshot with its source image byte for byte.

Test-only: `GET /_loopback/stats` returns request counts per API and per snapshot. Fault
injection: `--throttle-every N` fails every N-th PutSnapshotBlock request (counted over all
snapshots) with `--throttle-status`/`--throttle-code` (default HTTP 400 ThrottlingException);
`--deny API` fails every call of API with HTTP 403 AccessDeniedException.

Usage: ebs_server.py --store DIR [--port 0] [--block-size 524288] [--throttle-every N]
The first line on stdout is `listening 127.0.0.1:PORT`.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GIB = 1 << 30
SNAPSHOT_ID = r"snap-[0-9a-f]+"
ROUTES = [
    ("POST", re.compile(r"^/snapshots$"), "StartSnapshot"),
    ("PUT", re.compile(rf"^/snapshots/({SNAPSHOT_ID})/blocks/(\d+)$"), "PutSnapshotBlock"),
    ("POST", re.compile(rf"^/snapshots/completion/({SNAPSHOT_ID})$"), "CompleteSnapshot"),
    ("GET", re.compile(rf"^/snapshots/({SNAPSHOT_ID})/blocks$"), "ListSnapshotBlocks"),
    ("GET", re.compile(rf"^/snapshots/({SNAPSHOT_ID})/blocks/(\d+)$"), "GetSnapshotBlock"),
    ("GET", re.compile(r"^/_loopback/stats$"), "_stats"),
]


class ApiError(Exception):
    def __init__(self, status, code, message, reason=None):
        super().__init__(message)
        self.status, self.code, self.message, self.reason = status, code, message, reason


def validation(message, reason="INVALID_PARAMETER_VALUE"):
    return ApiError(400, "ValidationException", message, reason)


class Snapshot:
    def __init__(self, snapshot_id, volume_size, block_size, request, path):
        self.id = snapshot_id
        self.volume_size = volume_size
        self.block_size = block_size
        self.request = request  # the StartSnapshot body, for idempotency checks
        self.description = request.get("Description")
        self.tags = request.get("Tags") or []
        self.start_time = time.time()
        self.status = "pending"
        self.error = None
        self.blocks = {}  # index -> (raw sha256 digest, block token)
        self.puts = 0
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.lock = threading.Lock()

    def blocks_in_volume(self):
        return self.volume_size * GIB // self.block_size


class State:
    def __init__(self, store, block_size):
        self.store = store
        self.block_size = block_size
        self.lock = threading.Lock()
        self.snapshots = {}
        self.tokens = {}
        self.requests = {}
        self.put_requests = 0
        self.faults = 0

    def count(self, api):
        with self.lock:
            self.requests[api] = self.requests.get(api, 0) + 1
            if api == "PutSnapshotBlock":
                self.put_requests += 1
                return self.put_requests
        return 0

    def snapshot(self, snapshot_id):
        with self.lock:
            snap = self.snapshots.get(snapshot_id)
        if snap is None:
            raise ApiError(404, "ResourceNotFoundException",
                           f"The snapshot '{snapshot_id}' does not exist.", "SNAPSHOT_NOT_FOUND")
        return snap

    def stats(self):
        with self.lock:
            snaps = list(self.snapshots.values())
            out = {"requests": dict(self.requests), "faults_injected": self.faults,
                   "snapshots": {}}
        for s in snaps:
            with s.lock:
                out["snapshots"][s.id] = {
                    "status": s.status, "error": s.error, "block_size": s.block_size,
                    "volume_size": s.volume_size, "blocks_received": len(s.blocks),
                    "put_requests": s.puts, "store": s.path,
                }
        return out


def b64_sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ebs-loopback/1"
    state: State = None
    options = None

    def log_message(self, fmt, *args):
        if self.options.verbose:
            sys.stderr.write("ebs_server: " + (fmt % args) + "\n")

    def do_GET(self):
        self.dispatch("GET")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    # ---------------------------------------------------------------------------- plumbing
    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body=b"", headers=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(16))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_shape(self, err):
        body = {"message": err.message}
        if err.reason:
            body["Reason"] = err.reason
        self.send(err.status, body, {"x-amzn-ErrorType": err.code})

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = urllib.parse.unquote(url.path)
        try:
            body = self.read_body()
        except (ValueError, OSError) as e:
            self.send_error_shape(validation(f"unreadable request body: {e}"))
            return
        for m, pattern, api in ROUTES:
            match = pattern.match(path)
            if m == method and match:
                break
        else:
            self.send_error_shape(ApiError(404, "UnknownOperationException",
                                           f"no EBS operation for {method} {path}"))
            return
        try:
            if api == "_stats":
                self.send(200, self.state.stats())
                return
            n = self.state.count(api)
            if api in self.options.deny:
                raise ApiError(403, "AccessDeniedException",
                               f"User is not authorized to perform: ebs:{api}",
                               "UNAUTHORIZED_ACCOUNT")
            every = self.options.throttle_every
            if api == "PutSnapshotBlock" and every and n % every == 0:
                with self.state.lock:
                    self.state.faults += 1
                raise ApiError(self.options.throttle_status, self.options.throttle_code,
                               "Rate exceeded (injected)")
            getattr(self, api)(body, query, *match.groups())
        except ApiError as err:
            self.send_error_shape(err)
        except Exception as e:  # noqa: BLE001 - a server bug is reported as a 500
            self.send_error_shape(ApiError(500, "InternalServerException", f"{type(e).__name__}: {e}"))

    # ---------------------------------------------------------------------------- operations
    def StartSnapshot(self, body, _query):
        try:
            request = json.loads(body or b"{}")
        except ValueError as e:
            raise validation(f"malformed JSON body: {e}")
        size = request.get("VolumeSize")
        if not isinstance(size, int) or not 1 <= size <= 65536:
            raise validation(f"VolumeSize must be 1..65536 GiB, got {size!r}", "INVALID_VOLUME_SIZE")
        timeout = request.get("Timeout", 60)
        if not isinstance(timeout, int) or not 10 <= timeout <= 4320:
            raise validation(f"Timeout must be 10..4320 minutes, got {timeout!r}")
        for tag in request.get("Tags") or []:
            if not isinstance(tag, dict) or not tag.get("Key"):
                raise validation(f"invalid tag {tag!r}", "INVALID_TAG")
        state = self.state
        token = request.get("ClientToken")
        with state.lock:
            snap = state.tokens.get(token) if token else None
            if snap is not None:
                if snap.request != request:
                    raise ApiError(409, "ConflictException",
                                   "The ClientToken was used with different parameters.")
            else:
                snapshot_id = "snap-" + secrets.token_hex(9)[:17]
                path = os.path.join(state.store, snapshot_id + ".img")
                snap = Snapshot(snapshot_id, size, state.block_size, request, path)
                state.snapshots[snapshot_id] = snap
                if token:
                    state.tokens[token] = snap
        out = {
            "Description": snap.description, "SnapshotId": snap.id, "OwnerId": "123456789012",
            "Status": snap.status, "StartTime": snap.start_time, "VolumeSize": snap.volume_size,
            "BlockSize": snap.block_size, "Tags": snap.tags, "SseType": "none",
        }
        self.send(201, {k: v for k, v in out.items() if v is not None})

    def PutSnapshotBlock(self, body, _query, snapshot_id, index):
        snap = self.state.snapshot(snapshot_id)
        index = int(index)
        h = self.headers
        length, checksum = h.get("x-amz-Data-Length"), h.get("x-amz-Checksum")
        algorithm = h.get("x-amz-Checksum-Algorithm")
        if length is None or checksum is None or algorithm is None:
            raise validation("x-amz-Data-Length, x-amz-Checksum and x-amz-Checksum-Algorithm "
                             "are required")
        if algorithm != "SHA256":
            raise validation(f"unsupported checksum algorithm {algorithm!r}")
        if not length.isdigit() or int(length) != snap.block_size or len(body) != snap.block_size:
            raise validation(f"the block must be {snap.block_size} bytes (x-amz-Data-Length "
                             f"{length}, body {len(body)} bytes)", "INVALID_BLOCK_CHUNK_SIZE")
        if index >= snap.blocks_in_volume():
            raise validation(f"block index {index} is beyond the volume "
                             f"({snap.blocks_in_volume()} blocks)", "INVALID_BLOCK")
        digest = hashlib.sha256(body).digest()
        if base64.b64encode(digest).decode() != checksum:
            raise validation(f"checksum mismatch for block {index}", "INVALID_CHECKSUM")
        with snap.lock:
            if snap.status != "pending":
                raise validation(f"snapshot {snap.id} is {snap.status}", "INVALID_SNAPSHOT_ID")
        os.pwrite(snap.fd, body, index * snap.block_size)
        with snap.lock:
            snap.blocks[index] = (digest, secrets.token_urlsafe(12))
            snap.puts += 1
        self.send(201, b"", {"x-amz-Checksum": checksum, "x-amz-Checksum-Algorithm": "SHA256"})

    def CompleteSnapshot(self, _body, _query, snapshot_id):
        snap = self.state.snapshot(snapshot_id)
        h = self.headers
        count = h.get("x-amz-ChangedBlocksCount")
        with snap.lock:
            if snap.status != "pending":
                raise validation(f"snapshot {snap.id} is {snap.status}", "INVALID_SNAPSHOT_ID")
            problem = None
            if count is None or not count.isdigit():
                problem = "x-amz-ChangedBlocksCount is required"
            elif int(count) != len(snap.blocks):
                problem = (f"ChangedBlocksCount {count} does not match the "
                           f"{len(snap.blocks)} blocks written")
            elif h.get("x-amz-Checksum") is not None:
                if h.get("x-amz-Checksum-Algorithm") != "SHA256":
                    problem = "x-amz-Checksum-Algorithm must be SHA256"
                elif h.get("x-amz-Checksum-Aggregation-Method") != "LINEAR":
                    problem = "x-amz-Checksum-Aggregation-Method must be LINEAR"
                else:
                    linear = hashlib.sha256(
                        b"".join(snap.blocks[i][0] for i in sorted(snap.blocks))).digest()
                    if base64.b64encode(linear).decode() != h.get("x-amz-Checksum"):
                        problem = "the aggregate checksum does not match the blocks written"
            if problem:
                snap.status, snap.error = "error", problem
                raise validation(problem, "INVALID_CHECKSUM")
            snap.status = "completed"
        os.fsync(snap.fd)
        self.send(202, {"Status": snap.status})

    def ListSnapshotBlocks(self, _body, query, snapshot_id):
        snap = self.state.snapshot(snapshot_id)
        max_results = int(query.get("maxResults", ["10000"])[0])
        start = int(query.get("pageToken", query.get("startingBlockIndex", ["0"]))[0])
        with snap.lock:
            indexes = sorted(i for i in snap.blocks if i >= start)
            page = [{"BlockIndex": i, "BlockToken": snap.blocks[i][1]}
                    for i in indexes[:max_results]]
        out = {"Blocks": page, "ExpiryTime": time.time() + 3600,
               "VolumeSize": snap.volume_size, "BlockSize": snap.block_size}
        if len(indexes) > max_results:
            out["NextToken"] = str(indexes[max_results])
        self.send(200, out)

    def GetSnapshotBlock(self, _body, query, snapshot_id, index):
        snap = self.state.snapshot(snapshot_id)
        index = int(index)
        token = query.get("blockToken", [None])[0]
        with snap.lock:
            entry = snap.blocks.get(index)
        if entry is None or entry[1] != token:
            raise validation(f"invalid block token for block {index}", "INVALID_BLOCK_TOKEN")
        data = os.pread(snap.fd, snap.block_size, index * snap.block_size)
        self.send(200, data, {"x-amz-Data-Length": str(len(data)),
                              "x-amz-Checksum": base64.b64encode(entry[0]).decode(),
                              "x-amz-Checksum-Algorithm": "SHA256"},
                  content_type="application/octet-stream")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", required=True, help="directory for the snapshot images")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--block-size", type=int, default=524288)
    p.add_argument("--throttle-every", type=int, default=0, metavar="N",
                   help="fail every N-th PutSnapshotBlock request")
    p.add_argument("--throttle-status", type=int, default=400)
    p.add_argument("--throttle-code", default="ThrottlingException")
    p.add_argument("--deny", action="append", default=[], metavar="API",
                   help="fail every call of API (e.g. PutSnapshotBlock) with AccessDenied")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    options = p.parse_args()
    if options.block_size <= 0 or options.block_size % 512:
        p.error("--block-size must be a positive multiple of 512")
    os.makedirs(options.store, exist_ok=True)
    Handler.state = State(options.store, options.block_size)
    Handler.options = options
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    print(f"listening 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
