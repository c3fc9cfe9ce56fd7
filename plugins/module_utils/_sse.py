# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-sent events, the collection's one parser: bytes in, ``(event, data)`` out.

Two layers, so the load generator's hot path pays only for what it uses:

* :func:`split_events` frames a byte stream into event blocks (split on blank lines, CRLF folded),
  carrying the incomplete tail to the next read; it works on reads cut anywhere.
* :func:`event_fields` reads one block: ``event:`` names it (``message`` when absent, as in the SSE
  specification), several ``data:`` lines are joined with newlines, comments (``:``) are skipped.

:func:`iter_sse` puts both together for openai_verify's streams; the benchmark's ``StreamParser``
calls them directly and measures vLLM-shaped ``data:`` blocks without reading their fields.
Standard library only (nothing at all, in fact).
"""

from __future__ import annotations


def split_events(rest, data):
    """``(complete event blocks, new rest)`` after ``data`` arrived with ``rest`` left from before."""
    if rest:
        data = rest + data
    if b"\r" in data:
        # a CR at the end stays in the rest and meets its LF in the next read
        data = data.replace(b"\r\n", b"\n")
    events = data.split(b"\n\n")
    rest = events.pop()
    return events, rest


def event_fields(block):
    """``(event name, data bytes)`` of one event block; data is None when the block has no data line."""
    event, data = None, []
    for line in block.split(b"\n"):
        if not line or line[:1] == b":":
            continue
        field, _sep, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace")
    return event or "message", (b"\n".join(data) if data else None)


def iter_sse(chunks):
    """Yield ``(event, data)`` (both str) for each event of a stream.

    ``chunks`` yields the stream's bytes (or str) in pieces cut anywhere: an HTTP response read line
    by line, or whole reads. An event still open when the stream ends is yielded too.
    """
    rest = b""
    for chunk in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        events, rest = split_events(rest, chunk)
        for block in events:
            event, data = event_fields(block)
            if data is not None:
                yield event, data.decode("utf-8", "replace")
    if rest.strip():
        event, data = event_fields(rest.rstrip(b"\r\n"))
        if data is not None:
            yield event, data.decode("utf-8", "replace")
