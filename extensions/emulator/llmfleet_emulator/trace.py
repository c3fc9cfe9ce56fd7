"""Ground truth: one JSON line per request (EMULATOR_TRACE_FILE), written when it ends.

Each line has the request id (the ``x-request-id`` header when the client sent one), arrival,
every chunk's send time (``time.time()`` and ``time.monotonic()``, taken just before the bytes go to
the socket) and token count, prompt and completion tokens and the finish reason; README
"Ground truth" lists the fields. Lines are appended with one ``write`` each, so several worker
processes can share one file.
"""

from __future__ import annotations

import json
import os


class TraceWriter:
    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record):
        os.write(self.fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    def close(self):
        os.close(self.fd)
