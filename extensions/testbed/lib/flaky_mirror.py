"""TEST DOUBLE: a Debian mirror that fails its first answers, to show the image builds recover.

A small HTTP server that forwards GET/HEAD requests to the real mirror (--upstream) and, for each path
that matches --match, answers the first --fail-first requests with a failure instead:
  --mode 503   "503 Service Unavailable" (wget, so debootstrap, does not retry that: the package is
               reported as not downloadable and debootstrap fails, as in the CI run that motivated this)
  --mode drop  the connection is closed without an answer (wget retries that by itself)
Everything else is forwarded unchanged. Each request is logged to stderr as `<status> <path>` so a run
shows what was failed and what was fetched afterwards.

    python3 extensions/testbed/lib/flaky_mirror.py --port 8765 --upstream http://deb.debian.org/debian \
        --match 'libssh2-1_.*\\.deb$' --fail-first 12
    LLMFLEET_TESTBED_MIRROR=http://127.0.0.1:8765 bash extensions/testbed/build-images.sh

extensions/testbed/flaky-mirror-build.sh runs that against a scratch image tag and cache directory.
Standard library only.
"""

import argparse
import collections
import http.server
import re
import shutil
import sys
import threading
import urllib.error
import urllib.request


def make_handler(upstream, pattern, fail_first, mode):
    failures = collections.Counter()  # path -> failures answered so far
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: a dropped connection costs one request

        def log_message(self, fmt, *args):  # noqa: D102 - the log line is printed by _log
            pass

        def _log(self, status):
            sys.stderr.write(f"flaky-mirror: {status} {self.path}\n")
            sys.stderr.flush()

        def _should_fail(self):
            if not pattern.search(self.path):
                return False
            with lock:
                if failures[self.path] >= fail_first:
                    return False
                failures[self.path] += 1
                return True

        def _serve(self, head):
            if self._should_fail():
                if mode == "drop":
                    self._log("DROP")
                    self.close_connection = True
                    self.connection.close()
                    return
                self._log(503)
                self.send_response(503, "Service Unavailable")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            request = urllib.request.Request(upstream + self.path, method="HEAD" if head else "GET")
            try:
                response = urllib.request.urlopen(request, timeout=60)  # noqa: S310 - a test double
            except urllib.error.HTTPError as err:
                response = err
            with response:
                status = response.status if hasattr(response, "status") else response.code
                self._log(status)
                self.send_response(status)
                for name in ("Content-Type", "Content-Length", "Last-Modified", "ETag"):
                    if response.headers.get(name):
                        self.send_header(name, response.headers[name])
                self.end_headers()
                if not head:
                    shutil.copyfileobj(response, self.wfile, 1 << 16)

        def do_GET(self):  # noqa: N802 - http.server's name
            self._serve(head=False)

        def do_HEAD(self):  # noqa: N802 - http.server's name
            self._serve(head=True)

    return Handler, failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the real mirror, e.g. http://deb.debian.org/debian")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (127.0.0.1); 0 picks a free one")
    parser.add_argument("--match", default=r"\.deb$", help="regular expression of the paths to fail")
    parser.add_argument("--fail-first", type=int, default=1, help="failures per matching path before it is served")
    parser.add_argument("--mode", choices=("503", "drop"), default="503")
    args = parser.parse_args(argv)
    handler, _served = make_handler(args.upstream.rstrip("/"), re.compile(args.match), args.fail_first, args.mode)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    # The first line says where it listens, so a caller that asked for port 0 can read it.
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
