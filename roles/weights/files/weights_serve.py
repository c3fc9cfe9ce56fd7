# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Serve one model build's blobs, read-only, to the fleet's peers while they copy it (llmfleet.serving.weights).

    weights_serve.py --root <cache>/hub/models--ORG--NAME --bind ADDRESS --port PORT

Answers GET and HEAD of /blobs/<sha> only (a blob's name is its checksum: 40 or 64 hex digits, so no path can
leave the blobs directory), with Range: bytes=N- for resumed copies (206). Everything else is 404/405; nothing
is ever written. The role runs it as a transient systemd unit and stops it when the copy is over.
Standard library only: it runs on the seeder, a GPU host.
"""

import argparse
import os
import re
import shutil
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOB = re.compile(r"^/blobs/([0-9a-f]{40}|[0-9a-f]{64})$")


def make_handler(root):
    blobs = os.path.join(root, "blobs")

    class Handler(BaseHTTPRequestHandler):
        server_version = "llmfleet-weights/1"
        protocol_version = "HTTP/1.1"

        def _error(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self):  # noqa: N802
            self._serve(False)

        def do_GET(self):  # noqa: N802
            self._serve(True)

        def do_POST(self):  # noqa: N802
            self._error(405)

        do_PUT = do_DELETE = do_POST

        def _serve(self, body):
            match = BLOB.match(self.path.split("?", 1)[0])
            path = os.path.join(blobs, match.group(1)) if match else None
            if path is None or not os.path.isfile(path):
                return self._error(404)
            size = os.path.getsize(path)
            start, status = 0, 200
            wanted = self.headers.get("Range", "")
            m = re.match(r"^bytes=(\d+)-$", wanted)
            if m:
                start = int(m.group(1))
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % size)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                status = 206
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(size - start))
            if status == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
            self.end_headers()
            if body:
                with open(path, "rb") as handle:
                    handle.seek(start)
                    shutil.copyfileobj(handle, self.wfile, 8 * 1024 * 1024)
            return None

    return Handler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def make_server(bind, port, root):
    """The blob server on BIND:PORT: an IPv6 socket when BIND is an IPv6 address (it has a ':'), else IPv4."""
    server_class = _IPv6Server if ":" in bind else ThreadingHTTPServer
    return server_class((bind, port), make_handler(root))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--bind", default="0.0.0.0")  # nosec B104 - the role passes the fleet address
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = make_server(args.bind, args.port, args.root)
    server.daemon_threads = True
    sys.stderr.write("weights_serve: %s on %s:%d\n" % (args.root, args.bind, args.port))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
