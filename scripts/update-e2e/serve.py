#!/usr/bin/env python3
"""Serves a directory over HTTP on 127.0.0.1, like a slow update mirror.

usage: serve.py DIR PORT_FILE [--delay-targets SECONDS]
Binds a free port, writes it to PORT_FILE, and serves until killed. With --delay-targets, every
request under /targets/ waits that long before answering, so a client's download is observably
in progress (the update API must answer 423 meanwhile).
"""

import argparse
import functools
import http.server
import os
import sys
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    delay = 0.0

    def do_GET(self):
        if self.delay and self.path.startswith("/targets/"):
            time.sleep(self.delay)
        super().do_GET()

    def log_message(self, fmt, *args):
        sys.stderr.write("serve: " + (fmt % args) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("port_file")
    parser.add_argument("--delay-targets", type=float, default=0.0)
    args = parser.parse_args()
    Handler.delay = args.delay_targets
    handler = functools.partial(Handler, directory=args.dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
