# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one streamed chat request sends and how its answer is measured.

``request_body`` is the request of ``vllm bench serve --backend openai-chat``. :class:`StreamParser`
turns the SSE bytes of one response into vLLM's per-request measurements (TTFT, ITL, tokens) on a
``RequestRecord``. It is the hot path of the load generator: the SSE framing is ``_sse``'s (the one
parser of the collection), and chunks in vLLM's own compact shape are measured without JSON decoding
(about a third of the client's CPU at high chunk rates). Both transports (``_bench_raw``, the default,
and ``_bench_aiohttp``) feed it.
"""

from __future__ import annotations

import json

from ansible_collections.llmfleet.serving.plugins.module_utils._sse import event_fields, split_events


def request_body(cfg, prompt, output_len):
    """The chat request of ``vllm bench serve --backend openai-chat``, serialised once up front."""
    body = {
        "model": cfg["served_model_name"],
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        "max_completion_tokens": output_len,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if cfg["continuous_usage_stats"]:
        body["stream_options"]["continuous_usage_stats"] = True
    if cfg["ignore_eos"]:
        body["ignore_eos"] = True
    extra = {}
    if cfg["temperature"] is not None:
        extra["temperature"] = cfg["temperature"]
    extra.update(cfg["extra_body"] or {})
    body.update(extra)
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class StreamParser:
    """One response's SSE bytes -> its measurements on ``rec``; JSON decoded only where the fast path cannot read a message."""

    __slots__ = ("rec", "st", "last", "first", "want_text", "texts", "buf", "cum_tokens", "skip_role")

    def __init__(self, rec, st, want_text, skip_role=False):
        self.rec = rec
        self.skip_role = skip_role
        self.st = st
        self.last = st
        self.first = None
        self.want_text = want_text
        self.texts = [] if want_text else None
        self.buf = b""
        self.cum_tokens = None

    def feed_message(self, data, now):
        """``feed`` for bytes that most likely hold exactly one SSE message."""
        if not self.buf and data[-2:] == b"\n\n" and data.find(b"\n\n") == len(data) - 2 and b"\r" not in data:
            self.event(data[:-2], now)
        else:
            self.feed(data, now)

    def feed(self, data, now):
        events, self.buf = split_events(self.buf, data)
        for event in events:
            self.event(event, now)

    def choice_message(self, now, size):
        """A message with a non-empty ``choices`` list arrived at ``now`` carrying ``size`` bytes of text."""
        rec = self.rec
        if self.first is None:
            self.first = now
            rec.ttft = now - self.st
        else:
            rec.itl.append(now - self.last)
        self.last = now
        rec.chunk_chars.append(size)
        if size and rec.ttft_content is None:
            rec.ttft_content = now - self.st

    def finish(self, now):
        if self.buf.strip():
            self.event(self.buf, now)
        self.buf = b""
        if self.texts:
            self.rec.generated_text = "".join(self.texts)

    def event(self, event, now):
        if event[:6] == b"data: ":
            payload = event[6:]
            if payload[-_TAIL_LEN:] == _PLAIN_TAIL and not self.want_text:
                # the bulk of a stream in vLLM's own shape: {..."choices":[{"index":0,"delta":{"content":"TEXT"},
                # "logprobs":null,"finish_reason":null}]}. Timing and text size need no JSON decoding
                # (which is about a third of the client's CPU at high chunk rates).
                start = payload.find(_PLAIN_DELTA)
                if start > 0:
                    self.choice_message(now, len(payload) - _TAIL_LEN - start - _DELTA_LEN)
                    return
        elif event[:5] == b"data:":
            payload = event[5:]
        else:
            payload = event_fields(event)[1]
            if payload is None:
                return  # comment (keep-alive) or a field we do not use
        payload = payload.strip()
        if not payload or payload == b"[DONE]":
            return
        if not self.want_text and _is_plain_token_chunk(payload):
            size = _string_bytes(payload, b'"content":"')
            if b'"reasoning' in payload:
                size += _string_bytes(payload, b'"reasoning_content":"') + _string_bytes(payload, b'"reasoning":"')
            self.choice_message(now, size)
            return
        try:
            data = json.loads(payload)
        except ValueError:
            self.rec.stream_error = "unparsable SSE data: %r" % payload[:200]
            return
        if not isinstance(data, dict):
            return
        rec = self.rec
        choices = data.get("choices")
        usage = data.get("usage")
        if choices and self.skip_role and _role_only(choices[0]):
            choices = None  # vLLM >= 0.3x: the opening role chunk is not a token
        if choices:
            choice = choices[0]
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
            # sizes in UTF-8 bytes, as the fast path measures them (only their proportions are used)
            self.choice_message(now, len(text.encode("utf-8")) + len(reasoning.encode("utf-8")))
            reason = choice.get("finish_reason")
            if reason:
                rec.finish_reason = reason
            if self.want_text:
                self.texts.append(reasoning + text)
            if usage and usage.get("completion_tokens") is not None:
                # continuous usage stats: the tokens of this chunk are the growth of the running count
                done = int(usage["completion_tokens"])
                if rec.chunk_tokens is None:
                    rec.chunk_tokens = []
                rec.chunk_tokens.append(done - (self.cum_tokens or 0))
                self.cum_tokens = done
        elif data.get("error") is not None or data.get("object") == "error":
            err = data.get("error", data)
            rec.stream_error = (err.get("message") if isinstance(err, dict) else str(err)) or str(err)
        if usage:
            if usage.get("completion_tokens") is not None:
                rec.output_tokens = int(usage["completion_tokens"])
            if usage.get("prompt_tokens") is not None:
                rec.prompt_len = int(usage["prompt_tokens"])


_PLAIN_TAIL = b'"},"logprobs":null,"finish_reason":null}]}'
_PLAIN_DELTA = b'"delta":{"content":"'
_TAIL_LEN = len(_PLAIN_TAIL)
_DELTA_LEN = len(_PLAIN_DELTA)


def _is_plain_token_chunk(payload):
    """A compact chat chunk with one choice, no finish reason, no usage, no role, no tool call."""
    return (
        b'"finish_reason":null' in payload
        and b'"choices":[{' in payload
        and b'"usage"' not in payload
        and b'"role"' not in payload
        and b'"tool_calls"' not in payload
        and b'"function_call"' not in payload
        and b'"error"' not in payload
        and b'},{"index"' not in payload
    )


def _string_bytes(payload, key):
    """Length in bytes of the JSON string value after ``key`` (escapes counted as written), 0 if absent."""
    start = payload.find(key)
    if start < 0:
        return 0
    start += len(key)
    end = payload.find(b'"', start)
    while end > 0:
        backslashes = 0
        i = end - 1
        while payload[i] == 92:  # a quote preceded by an odd number of backslashes is escaped
            backslashes += 1
            i -= 1
        if backslashes % 2 == 0:
            return end - start
        end = payload.find(b'"', end + 1)
    return 0


def _role_only(choice):
    """vLLM 0.33's ``not _choice_has_streamed_output``: the opening chunk with a role and no output."""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return True
    if (
        delta.get("content")
        or delta.get("reasoning")
        or delta.get("reasoning_content")
        or delta.get("tool_calls")
        or delta.get("function_call")
    ):
        return False
    return not (delta.get("content") == "" and "role" not in delta)
