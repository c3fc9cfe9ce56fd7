# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lean HTTP/1.1 streaming transport of the load generator (``http_client: raw``, the default).

One keep-alive connection per concurrency slot on plain asyncio (standard library only): bytes are
timestamped in ``data_received``, the chunked framing is undone in place and the SSE bytes go
straight to the :class:`StreamParser`. benchmarks/client_ceiling.py measured this path 8x faster than
vLLM's own client on the same machine, so changes here want that benchmark run before and after.
"""

from __future__ import annotations

import asyncio
import time

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_config import auth_headers
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_stream import StreamParser

perf_counter = time.perf_counter


class RawStream(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that carries one streamed request at a time.

    Bytes are timestamped in ``data_received``, the first moment user code sees them (aiohttp's
    path adds a StreamReader, a future and a coroutine resumption per read), the chunked framing is
    undone in place and the SSE bytes go straight to the parser.
    """

    def __init__(self):
        self.transport = None
        self.closed = False
        self.waiter = None
        self.rec = None
        self.parser = None
        self.head = b""
        self.status = None
        self.mode = None  # "chunked" | "length" | "close"
        self.remaining = 0  # bytes left in the current chunk (chunked) or in the body (length)
        self.need_crlf = False  # a chunk's data ended; its CRLF is next
        self.buf = b""
        self.error_body = None
        self.keep_alive = True
        self.got_bytes = False
        self.idle = None
        self.idle_s = None

    # --- asyncio.Protocol ---
    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self.mode == "close" and self.status is not None:
                self._done(perf_counter())
            else:
                self._fail(
                    "ServerDisconnectedError: the server closed the connection%s"
                    % ("" if self.got_bytes else " before answering")
                )

    def data_received(self, data):
        now = perf_counter()
        if self.waiter is None or self.waiter.done():
            return  # bytes after a finished or abandoned request: ignore
        self.got_bytes = True
        if self.idle_s:
            self._arm_idle()
        if (
            self.mode == "chunked"
            and not self.buf
            and not self.remaining
            and not self.need_crlf
            and self.error_body is None
        ):
            # the usual read: whole HTTP chunks, each one SSE message
            pos = 0
            size = len(data)
            feed = self.parser.feed_message
            while pos < size:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    break
                try:
                    length = int(data[pos:eol], 16)
                except ValueError:
                    break
                end = eol + 2 + length
                if length == 0 or end + 2 > size:
                    break
                feed(data[eol + 2 : end], now)
                pos = end + 2
            if pos >= size:
                return
            data = data[pos:]
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 65536:
                    self._fail("the server sent more than 64 KiB of response headers")
                return
            data = self.head[end + 4 :]
            try:
                framed = self._headers(self.head[:end])
            except ValueError as exc:  # a malformed header value (Content-Length) ends this request
                self._fail("malformed response headers from the server: %s" % exc)
                self.transport.abort()
                return
            if not framed:
                return
            if not data:
                return
        self._body(data, now)

    # --- request ---
    def start(self, rec, parser, request_bytes, body, timeout_s, idle_s):
        self.rec = rec
        self.parser = parser
        self.head = b""
        self.status = None
        self.mode = None
        self.remaining = 0
        self.need_crlf = False
        self.buf = b""
        self.error_body = None
        self.got_bytes = False
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.idle_s = idle_s
        self._timer = loop.call_later(timeout_s, self._timeout, timeout_s, "request_timeout")
        if idle_s:
            self._arm_idle()
        self.transport.writelines((request_bytes, body))
        return self.waiter

    def _arm_idle(self):
        if self.idle is not None:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(
            self.idle_s, self._timeout, self.idle_s, "stream_idle_timeout"
        )

    def _timeout(self, seconds, option):
        if self.waiter is not None and not self.waiter.done():
            self._fail(
                "request timed out after %s s (%s): the stream stalled or the server is too slow" % (seconds, option)
            )
            self.transport.abort()

    def _headers(self, raw):
        lines = raw.split(b"\r\n")
        parts = lines[0].split(None, 2)
        try:
            self.status = int(parts[1])
        except (IndexError, ValueError):
            self._fail("not an HTTP response: %r" % lines[0][:100])
            return False
        self.reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        self.keep_alive = parts[0] == b"HTTP/1.1"
        length = None
        chunked = False
        for line in lines[1:]:
            name, dummy, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"content-length":
                length = int(value)
            elif name == b"connection":
                self.keep_alive = value != b"close"
        if self.rec is not None:
            self.rec.status = self.status
        if self.status != 200:
            self.error_body = []
        if chunked:
            self.mode = "chunked"
        elif length is not None:
            self.mode = "length"
            self.remaining = length
            if length == 0:
                self._done(perf_counter())
                return False
        else:
            self.mode = "close"
            self.keep_alive = False
        return True

    def _deliver(self, payload, now):
        if self.error_body is not None:
            if sum(len(b) for b in self.error_body) < 4096:
                self.error_body.append(payload)
        elif payload:
            self.parser.feed(payload, now)

    def _body(self, data, now):
        if self.mode == "length":
            take = data[: self.remaining]
            self.remaining -= len(take)
            self._deliver(take, now)
            if self.remaining <= 0:
                self._done(now)
            return
        if self.mode == "close":
            self._deliver(data, now)
            return
        buf = self.buf + data if self.buf else data
        pos = 0
        out = []
        size = len(buf)
        while pos < size:
            if self.need_crlf:
                if size - pos < 2:
                    break
                pos += 2
                self.need_crlf = False
            if self.remaining:
                take = min(self.remaining, size - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    self.need_crlf = True
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                chunk = int(buf[pos:eol].split(b";", 1)[0], 16)
            except ValueError:
                self._fail("bad chunked encoding from the server: %r" % buf[pos:eol][:40])
                return
            if chunk == 0:
                # last chunk: optional trailers, then an empty line
                end = buf.find(b"\r\n\r\n", eol) if buf[eol + 2 : eol + 4] != b"\r\n" else eol
                if end < 0:
                    break
                if out:
                    self._deliver(b"".join(out), now)
                self.buf = b""
                self._done(now)
                return
            pos = eol + 2
            self.remaining = chunk
        self.buf = buf[pos:] if pos < size else b""
        if out:
            self._deliver(out[0] if len(out) == 1 else b"".join(out), now)

    def _done(self, now):
        self._stop_timers()
        rec = self.rec
        if self.error_body is not None:
            detail = b"".join(self.error_body).decode("utf-8", "replace")[:500].strip()
            rec.error = "HTTP %d %s%s" % (self.status, self.reason, (": " + detail) if detail else "")
        else:
            self.parser.finish(now)
        if not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, message):
        self._stop_timers()
        self.keep_alive = False
        if self.rec is not None and not self.rec.error:
            self.rec.error = message
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _stop_timers(self):
        for name in ("_timer", "idle"):
            handle = getattr(self, name, None)
            if handle is not None:
                handle.cancel()
                setattr(self, name, None)


class RawTarget:
    """Where and how the raw client connects, and the request head without its per-request fields."""

    def __init__(self, cfg):
        from urllib.parse import urlsplit

        url = urlsplit(cfg["base_url"] + cfg["endpoint"])
        self.host = url.hostname
        self.tls = url.scheme == "https"
        self.port = url.port or (443 if self.tls else 80)
        self.path = (url.path or "/") + ("?" + url.query if url.query else "")
        headers = [
            ("Host", url.netloc),
            ("Content-Type", "application/json"),
            ("Accept", "*/*"),
            ("User-Agent", "llmfleet-bench"),
        ]
        headers += sorted(auth_headers(cfg).items()) + sorted((cfg["headers"] or {}).items())
        self.head = ("POST %s HTTP/1.1\r\n" % self.path + "".join("%s: %s\r\n" % kv for kv in headers)).encode(
            "latin-1"
        )

    def request_bytes(self, request_id, body):
        return self.head + b"Content-Length: %d\r\nx-request-id: %s\r\n\r\n" % (len(body), request_id.encode("latin-1"))

    async def connect(self):
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_connection(RawStream, self.host, self.port, ssl=True if self.tls else None)
        return proto


async def send_request_raw(target, conn, request_id, body, rec, want_text, timeout_s, idle_s, skip_role):
    """One streamed chat request over ``conn`` (a reusable ``RawStream`` or None); returns the
    connection to reuse, or None when it cannot be reused."""
    rec.start_time = st = perf_counter()
    parser = StreamParser(rec, st, want_text, skip_role)
    for attempt in (0, 1):
        if conn is not None and conn.closed:
            conn = None  # the server closed the kept-alive connection while it was idle
        reused = conn is not None
        if conn is None:
            try:
                conn = await asyncio.wait_for(target.connect(), timeout_s)
            except asyncio.TimeoutError:
                rec.error = "request timed out after %s s (request_timeout) while connecting" % timeout_s
                break
            except OSError as exc:
                rec.error = "cannot connect: %s" % exc
                break
        await conn.start(rec, parser, target.request_bytes(rec.request_id, body), body, timeout_s, idle_s)
        if rec.error and reused and not conn.got_bytes and attempt == 0:
            # a kept-alive connection the server had already closed: the request never reached it
            rec.error = ""
            rec.status = None
            conn = None
            continue
        break
    rec.end_time = perf_counter()
    if parser.texts and not rec.generated_text:
        rec.generated_text = "".join(parser.texts)
    if rec.error:
        rec.success = False
    elif parser.first is None:
        rec.error = "Never received a valid chunk to calculate TTFT.This response will be marked as failed!"
        if rec.stream_error:
            rec.error += " Server error in the stream: %s" % rec.stream_error
    else:
        rec.success = True
        rec.latency = parser.last - st
    if conn is not None and (conn.closed or not conn.keep_alive or rec.error):
        if not conn.closed:
            conn.transport.close()
        conn = None
    return conn
