#!/usr/bin/env python3
"""A loopback HTTP proxy for AWS query-protocol services (EC2) in tests.

It forwards every request to an upstream AWS-protocol server (moto) and records what the client
sent, so tests can assert on requests the server does not keep (moto's RegisterImage drops block
device mappings, architecture and ENA). It can also make one action fail, to test clean-up.

  record_proxy.py --upstream http://127.0.0.1:PORT --log requests.jsonl [--fail RegisterImage]

The first line on stdout is `listening 127.0.0.1:PORT`. Each log line is a JSON object:
{"action": "RegisterImage", "params": {"Name": "...", "BlockDeviceMapping.1.DeviceName": ...}}.
"""
import argparse
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAIL_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
    "<Code>InvalidParameterValue</Code><Message>{action} refused by the test proxy</Message>"
    "</Error></Errors><RequestID>test-proxy</RequestID></Response>"
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail", action="append", default=[], help="an action to refuse")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            params = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
            action = params.get("Action", "")
            with lock, open(args.log, "a") as log:
                log.write(json.dumps({"action": action, "params": params}) + "\n")
            if action in args.fail:
                data = FAIL_BODY.format(action=action).encode()
                self.send_response(400)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            request = urllib.request.Request(
                args.upstream + self.path, data=body if length else None, headers=headers, method=self.command
            )
            try:
                response = urllib.request.urlopen(request, timeout=60)
                status, data, rheaders = response.status, response.read(), response.headers
            except urllib.error.HTTPError as e:
                status, data, rheaders = e.code, e.read(), e.headers
            self.send_response(status)
            for k, v in rheaders.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
