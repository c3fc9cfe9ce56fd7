# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The aiohttp transport of the load generator (``http_client: aiohttp``): vLLM's own client library,
for proxies (``trust_env``) and servers the lean client does not speak to.

aiohttp is optional: this file imports without it (``HAS_AIOHTTP`` says whether it is there), so
module_utils stay importable on GPU hosts; only a run that asks for this transport needs it.
"""

from __future__ import annotations

import asyncio

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_stream import StreamParser

try:
    import aiohttp

    HAS_AIOHTTP = True
except ImportError:  # the module_utils must import where aiohttp is absent (GPU hosts)
    aiohttp = None
    HAS_AIOHTTP = False

perf_counter = __import__("time").perf_counter


def new_session(cfg, limit):
    connector = aiohttp.TCPConnector(
        limit=limit, limit_per_host=limit, ttl_dns_cache=300, keepalive_timeout=60, force_close=False
    )
    timeout = aiohttp.ClientTimeout(total=cfg["request_timeout"], sock_read=cfg["stream_idle_timeout"])
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, read_bufsize=cfg["read_bufsize"], trust_env=cfg["trust_env"]
    )


async def send_request(session, url, body, headers, rec, want_text=False, timeout_s=None, skip_role=False):
    """One streamed chat request; fills ``rec`` with vLLM's per-request measurements."""
    rec.start_time = st = perf_counter()
    parser = StreamParser(rec, st, want_text, skip_role)
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            rec.status = resp.status
            if resp.status != 200:
                try:
                    detail = (await resp.text())[:500].strip()
                except Exception:  # noqa: BLE001 - the status is the message; the body is a bonus
                    detail = ""
                rec.error = "HTTP %d %s%s" % (resp.status, resp.reason or "", (": " + detail) if detail else "")
                return rec
            content = resp.content
            while True:
                data = await content.readany()
                if not data:
                    break
                parser.feed(data, perf_counter())
            parser.finish(perf_counter())
    except asyncio.TimeoutError:
        rec.error = (
            "request timed out after %s s (request_timeout / stream_idle_timeout): the stream stalled or "
            "the server is too slow" % (timeout_s if timeout_s is not None else "?")
        )
    except Exception as exc:  # noqa: BLE001 - any failure of one request is that request's error
        if HAS_AIOHTTP and isinstance(exc, aiohttp.ClientConnectorError):
            rec.error = "cannot connect: %s" % (exc.os_error or exc)
        else:
            rec.error = "%s: %s" % (type(exc).__name__, exc)
    finally:
        rec.end_time = perf_counter()
        if parser.texts:
            rec.generated_text = "".join(parser.texts)
    if rec.error:
        rec.success = False
        return rec
    if parser.first is None:
        rec.error = "Never received a valid chunk to calculate TTFT.This response will be marked as failed!"
        if rec.stream_error:
            rec.error += " Server error in the stream: %s" % rec.stream_error
        return rec
    rec.success = True
    rec.latency = parser.last - st
    return rec
