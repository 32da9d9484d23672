#!/usr/bin/env python3
"""Loopback stand-in for AWS KMS: GetPublicKey and Sign for RSA signing keys.

The repository end-to-end test signs TUF metadata through AWS KMS (the `tough-kms` crate, which
uses aws-sdk-kms). This server answers the two operations it needs, following the AWS KMS API
reference, on 127.0.0.1 only; point the SDK at it with AWS_ENDPOINT_URL=http://127.0.0.1:PORT
(plus any dummy AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION).

usage: kms_standin.py --port-file FILE --key-dir DIR [--key KEYID ...] [--log FILE]

  --port-file  once listening, the chosen port is written here (atomically: tmp file + rename)
  --key-dir    DIR/<KEYID>.pem holds each key (PKCS#8 PEM); missing keys are generated and saved,
               so a restarted server keeps its keys. Keys already in DIR are served too.
  --key        a key id to serve (repeatable): an RSA 3072 key (KMS key spec RSA_3072)
  --log        append one line per request here (default: stderr)

Serves until killed.

Protocol (AWS JSON 1.1): POST / with `X-Amz-Target: TrentService.<Operation>`,
`Content-Type: application/x-amz-json-1.1`, a JSON body, binary fields base64-encoded. Requests
must carry a SigV4 `Authorization: AWS4-HMAC-SHA256 ...` header (its signature is not checked).
KeyId may be the bare id, `arn:aws:kms:<region>:<account>:key/<id>`, `alias/<id>` or an alias
ARN; responses name the key by its full key ARN (region from AWS_REGION / AWS_DEFAULT_REGION,
default us-west-2; account 111122223333).

  GetPublicKey {KeyId} -> {KeyId, PublicKey (DER SubjectPublicKeyInfo), KeySpec,
                           CustomerMasterKeySpec, KeyUsage: SIGN_VERIFY, SigningAlgorithms}
  Sign {KeyId, Message, MessageType: RAW|DIGEST (default RAW), SigningAlgorithm}
       -> {KeyId, Signature, SigningAlgorithm}
     RSASSA_PSS_SHA_{256,384,512}: PSS, MGF1 with the same hash, salt as long as the digest
     (as KMS does); RSASSA_PKCS1_V1_5_SHA_{256,384,512}. RAW messages are at most 4096 bytes
     and are hashed here; DIGEST messages must be exactly the digest length.

Errors are HTTP 400 with the AWS JSON error shape {"__type": NAME, "message": TEXT} and the
`x-amzn-ErrorType` header: NotFoundException (unknown key), ValidationException (bad input),
InvalidKeyUsageException (algorithm the key cannot do), UnknownOperationException,
MissingAuthenticationTokenException (no SigV4 Authorization header), SerializationException
(body is not JSON).
"""

import argparse
import base64
import binascii
import datetime
import json
import os
import re
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

KEY_BITS = 3072
KEY_SPEC = f"RSA_{KEY_BITS}"
ACCOUNT = "111122223333"
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-west-2"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_RAW_MESSAGE = 4096

# SigningAlgorithmSpec -> (hash, PSS?) for every algorithm an RSA KMS key supports.
RSA_ALGORITHMS = {
    "RSASSA_PSS_SHA_256": (hashes.SHA256, True),
    "RSASSA_PSS_SHA_384": (hashes.SHA384, True),
    "RSASSA_PSS_SHA_512": (hashes.SHA512, True),
    "RSASSA_PKCS1_V1_5_SHA_256": (hashes.SHA256, False),
    "RSASSA_PKCS1_V1_5_SHA_384": (hashes.SHA384, False),
    "RSASSA_PKCS1_V1_5_SHA_512": (hashes.SHA512, False),
}
# Valid SigningAlgorithmSpec values that RSA keys can't use.
OTHER_ALGORITHMS = {"ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "SM2DSA",
                    "ML_DSA_SHAKE_256"}
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_./-]{1,256}$")


class KmsError(Exception):
    """An AWS error response: `kind` is the error type (__type), the message its text."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def key_arn(key_id: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


class KeyStore:
    """RSA keys by bare key id, persisted as DIR/<id>.pem."""

    def __init__(self, key_dir: str, key_ids: list[str]):
        os.makedirs(key_dir, exist_ok=True)
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        for name in sorted(os.listdir(key_dir)):
            if name.endswith(".pem"):
                self.keys[name[:-4]] = self._load(os.path.join(key_dir, name))
        for key_id in key_ids:
            if not KEY_ID_RE.match(key_id) or "/" in key_id:
                raise SystemExit(f"kms_standin: bad key id {key_id!r}")
            if key_id not in self.keys:
                self.keys[key_id] = self._generate(os.path.join(key_dir, f"{key_id}.pem"))

    @staticmethod
    def _load(path: str) -> rsa.RSAPrivateKey:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SystemExit(f"kms_standin: {path} is not an RSA private key")
        return key

    @staticmethod
    def _generate(path: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-key-")
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, path)
        return key

    def resolve(self, key_id) -> tuple[str, rsa.RSAPrivateKey]:
        """Finds a key by bare id, key ARN, alias/<id> or alias ARN; returns (id, key)."""
        if not isinstance(key_id, str) or not key_id:
            raise KmsError("ValidationException", "1 validation error detected: Value at 'keyId' "
                           "failed to satisfy constraint: Member must have length greater than "
                           "or equal to 1")
        bare = key_id
        if bare.startswith("arn:"):
            parts = bare.split(":", 5)
            if len(parts) != 6 or parts[2] != "kms":
                raise KmsError("NotFoundException", f"Invalid arn {key_id}")
            bare = parts[5]
        for prefix in ("key/", "alias/"):
            if bare.startswith(prefix):
                bare = bare[len(prefix):]
                break
        key = self.keys.get(bare)
        if key is None:
            raise KmsError("NotFoundException", f"Key '{key_arn(bare)}' does not exist")
        return bare, key


def b64_field(body: dict, name: str) -> bytes:
    value = body.get(name)
    if value is None:
        raise KmsError("ValidationException", f"1 validation error detected: Value null at "
                       f"'{name[0].lower() + name[1:]}' failed to satisfy constraint: Member must "
                       "not be null")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError) as err:
        raise KmsError("SerializationException", f"{name} is not valid base64: {err}") from err


def get_public_key(store: KeyStore, body: dict) -> tuple[str, dict]:
    key_id, key = store.resolve(body.get("KeyId"))
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key_id, {
        "KeyId": key_arn(key_id),
        "PublicKey": base64.b64encode(der).decode(),
        "KeySpec": KEY_SPEC,
        "CustomerMasterKeySpec": KEY_SPEC,
        "KeyUsage": "SIGN_VERIFY",
        "SigningAlgorithms": list(RSA_ALGORITHMS),
    }


def sign(store: KeyStore, body: dict) -> tuple[str, dict]:
    key_id, key = store.resolve(body.get("KeyId"))
    message = b64_field(body, "Message")
    message_type = body.get("MessageType", "RAW")
    algorithm = body.get("SigningAlgorithm")
    if message_type not in ("RAW", "DIGEST"):
        raise KmsError("ValidationException", f"1 validation error detected: Value "
                       f"'{message_type}' at 'messageType' failed to satisfy constraint: Member "
                       "must satisfy enum value set: [DIGEST, RAW]")
    if algorithm is None:
        raise KmsError("ValidationException", "1 validation error detected: Value null at "
                       "'signingAlgorithm' failed to satisfy constraint: Member must not be null")
    if algorithm not in RSA_ALGORITHMS:
        if algorithm in OTHER_ALGORITHMS:
            raise KmsError("InvalidKeyUsageException", f"Signing algorithm {algorithm} is not "
                           f"supported by {key_arn(key_id)} (key spec {KEY_SPEC})")
        raise KmsError("ValidationException", f"1 validation error detected: Value "
                       f"'{algorithm}' at 'signingAlgorithm' failed to satisfy constraint: Member "
                       f"must satisfy enum value set: {sorted(RSA_ALGORITHMS | dict.fromkeys(OTHER_ALGORITHMS))}")
    if not 1 <= len(message) <= MAX_RAW_MESSAGE:
        raise KmsError("ValidationException", "1 validation error detected: Value at 'message' "
                       "failed to satisfy constraint: Member must have length between 1 and 4096")
    hash_type, pss = RSA_ALGORITHMS[algorithm]
    digest_size = hash_type.digest_size
    if message_type == "DIGEST":
        if len(message) != digest_size:
            raise KmsError("ValidationException", f"Digest is invalid length for algorithm "
                           f"{algorithm}: expected {digest_size} bytes, got {len(message)}")
        algo = utils.Prehashed(hash_type())
    else:
        algo = hash_type()
    pad = (padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=digest_size)
           if pss else padding.PKCS1v15())
    signature = key.sign(message, pad, algo)
    return key_id, {
        "KeyId": key_arn(key_id),
        "Signature": base64.b64encode(signature).decode(),
        "SigningAlgorithm": algorithm,
    }


OPERATIONS = {"TrentService.GetPublicKey": get_public_key, "TrentService.Sign": sign}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK expects
    server_version = "kms-standin"
    store: KeyStore
    log_file = None
    log_lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 - silence http.server's own access log
        pass

    def _log(self, operation: str, key_id: str, outcome: str) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        line = f"{now} {operation or '-'} key={key_id or '-'} {outcome}\n"
        with self.log_lock:
            out = self.log_file or sys.stderr
            out.write(line)
            out.flush()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload: dict, error_type: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server's naming
        target = self.headers.get("X-Amz-Target", "")
        operation = target.split(".", 1)[-1] if target else ""
        key_id = ""
        try:
            raw = self._read_body()
            if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
                raise KmsError("MissingAuthenticationTokenException",
                               "Missing Authentication Token (expected a SigV4 "
                               "AWS4-HMAC-SHA256 Authorization header)")
            handler = OPERATIONS.get(target)
            if handler is None:
                raise KmsError("UnknownOperationException", f"unsupported operation {target!r}")
            try:
                body = json.loads(raw or b"{}")
            except ValueError as err:
                raise KmsError("SerializationException", f"body is not JSON: {err}") from err
            if not isinstance(body, dict):
                raise KmsError("SerializationException", "body is not a JSON object")
            key_id = str(body.get("KeyId", ""))
            _, response = handler(self.store, body)
        except KmsError as err:
            self._log(operation, key_id, f"error {err.kind}: {err}")
            self._send(400, {"__type": err.kind, "message": str(err)}, err.kind)
            return
        except Exception as err:  # noqa: BLE001 - report, don't kill the connection silently
            self._log(operation, key_id, f"internal error {type(err).__name__}: {err}")
            self._send(500, {"__type": "KMSInternalException", "message": str(err)},
                       "KMSInternalException")
            return
        detail = f" alg={response['SigningAlgorithm']}" if "SigningAlgorithm" in response else ""
        self._log(operation, key_id, f"ok{detail}")
        self._send(200, response)

    def do_GET(self):  # noqa: N802
        self._log(f"GET {self.path}", "", "error UnknownOperationException")
        self._send(400, {"__type": "UnknownOperationException", "message": "use POST /"},
                   "UnknownOperationException")


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-port-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True, help="write the listening port here")
    parser.add_argument("--key-dir", required=True, help="directory of <KEYID>.pem keys")
    parser.add_argument("--key", action="append", default=[], help="key id to serve (repeatable)")
    parser.add_argument("--log", help="request log file (default: stderr)")
    args = parser.parse_args()

    Handler.store = KeyStore(args.key_dir, args.key)
    if args.log:
        Handler.log_file = open(args.log, "a", buffering=1)  # noqa: SIM115 - lives until exit
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # bound and listening
    server.daemon_threads = True
    port = server.server_address[1]
    write_atomically(args.port_file, str(port))
    print(f"kms_standin: listening on 127.0.0.1:{port} with keys "
          f"{', '.join(sorted(Handler.store.keys)) or '(none)'}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
