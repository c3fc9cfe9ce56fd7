"""Server-sent event bytes, built once per request and spliced per chunk (the hot path).

Shapes follow vLLM's OpenAI server: a role chunk ``{"role": "assistant", "content": ""}`` sent
with the first token, one chunk per engine step, ``finish_reason`` on the last content chunk
(with ``"stop_reason": null``), a usage chunk with empty ``choices`` only when
``stream_options.include_usage`` is true, then ``data: [DONE]``.
"""

from __future__ import annotations

import json

DONE = b"data: [DONE]\n\n"


def _j(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _delta_json(out, start, end, name_sent):
    """JSON of the delta for tokens [start, end) of ``out`` (a generation.Output)."""
    if out.tool is not None:
        tool = out.tool
        first = start == 0
        piece_lo = max(0, start - 1)
        args = "".join(tool.pieces[piece_lo : end - 1])
        if first:
            call = {
                "index": 0,
                "id": tool.call_id,
                "type": "function",
                "function": {"name": tool.name, "arguments": args},
            }
        else:
            call = {"index": 0, "function": {"arguments": args}}
        return _j({"tool_calls": [call]}).encode()
    r = out.reasoning
    if start >= r:
        return b'{"content":"' + out.text_bytes(start, end) + b'"}'
    if end <= r:
        return b'{"reasoning_content":"' + out.text_bytes(start, end) + b'"}'
    return b'{"reasoning_content":"' + out.text_bytes(start, r) + b'","content":"' + out.text_bytes(r, end) + b'"}'


class ChatEncoder:
    """``/v1/chat/completions`` chunks."""

    def __init__(self, rid, created, model, out, usage_wanted):
        self.out = out
        self.head = (
            'data: {"id":%s,"object":"chat.completion.chunk","created":%d,"model":%s,'
            '"choices":[{"index":0,"delta":' % (_j(rid), created, _j(model))
        ).encode()
        self.tail = b',"logprobs":null,"finish_reason":null}]}\n\n'
        self.last_tail = (',"logprobs":null,"finish_reason":%s,"stop_reason":null}]}\n\n' % _j(out.finish)).encode()
        self.usage_head = (
            'data: {"id":%s,"object":"chat.completion.chunk","created":%d,"model":%s,'
            '"choices":[],"usage":' % (_j(rid), created, _j(model))
        ).encode()
        self.usage_wanted = usage_wanted

    def first(self):
        return self.head + b'{"role":"assistant","content":""}' + self.tail

    def chunk(self, start, end):
        tail = self.last_tail if end >= self.out.total else self.tail
        return self.head + _delta_json(self.out, start, end, False) + tail

    def finish(self, prompt_tokens, completion_tokens):
        if not self.usage_wanted:
            return DONE
        usage = '{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":%d}}\n\n' % (
            prompt_tokens,
            prompt_tokens + completion_tokens,
            completion_tokens,
        )
        return self.usage_head + usage.encode() + DONE


class CompletionEncoder:
    """``/v1/completions`` chunks (no role chunk)."""

    def __init__(self, rid, created, model, out, usage_wanted):
        self.out = out
        self.head = (
            'data: {"id":%s,"object":"text_completion","created":%d,"model":%s,'
            '"choices":[{"index":0,"text":"' % (_j(rid), created, _j(model))
        ).encode()
        self.tail = b'","logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n'
        self.last_tail = ('","logprobs":null,"finish_reason":%s,"stop_reason":null}]}\n\n' % _j(out.finish)).encode()
        self.usage_head = (
            'data: {"id":%s,"object":"text_completion","created":%d,"model":%s,'
            '"choices":[],"usage":' % (_j(rid), created, _j(model))
        ).encode()
        self.usage_wanted = usage_wanted

    def first(self):
        return b""

    def chunk(self, start, end):
        tail = self.last_tail if end >= self.out.total else self.tail
        return self.head + self.out.text_bytes(start, end) + tail

    finish = ChatEncoder.finish


def _event(name, payload):
    return ("event: %s\ndata: %s\n\n" % (name, _j(payload))).encode()


ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


class AnthropicEncoder:
    """``/v1/messages`` events: message_start, one content block per kind (thinking, text or
    tool_use) with its deltas, content_block_stop, message_delta (stop_reason, usage), message_stop."""

    def __init__(self, rid, model, out, prompt_tokens):
        self.out = out
        self.rid = rid
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.block = -1  # index of the open content block
        self.kind = None

    def first(self):
        return _event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": self.rid,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": self.prompt_tokens, "output_tokens": 0},
                },
            },
        )

    def _open(self, kind):
        parts = []
        if self.kind is not None:
            parts.append(_event("content_block_stop", {"type": "content_block_stop", "index": self.block}))
        self.block += 1
        self.kind = kind
        if kind == "thinking":
            block = {"type": "thinking", "thinking": ""}
        elif kind == "tool_use":
            tool = self.out.tool
            block = {"type": "tool_use", "id": tool.call_id, "name": tool.name, "input": {}}
        else:
            block = {"type": "text", "text": ""}
        parts.append(
            _event("content_block_start", {"type": "content_block_start", "index": self.block, "content_block": block})
        )
        return parts

    def _delta(self, delta):
        return _event("content_block_delta", {"type": "content_block_delta", "index": self.block, "delta": delta})

    def chunk(self, start, end):
        out = self.out
        parts = []
        if out.tool is not None:
            if self.kind != "tool_use":
                parts += self._open("tool_use")
            args = "".join(out.tool.pieces[max(0, start - 1) : end - 1])
            if args:
                parts.append(self._delta({"type": "input_json_delta", "partial_json": args}))
        else:
            r = out.reasoning
            if start < r:
                if self.kind != "thinking":
                    parts += self._open("thinking")
                parts.append(self._delta({"type": "thinking_delta", "thinking": out.text(start, min(end, r))}))
            if end > r:
                if self.kind != "text":
                    parts += self._open("text")
                parts.append(self._delta({"type": "text_delta", "text": out.text(max(start, r), end)}))
        return b"".join(parts)

    def finish(self, prompt_tokens, completion_tokens):
        parts = []
        if self.kind is None:  # nothing generated: still one (empty) text block
            parts += self._open("text")
        parts.append(_event("content_block_stop", {"type": "content_block_stop", "index": self.block}))
        parts.append(
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": ANTHROPIC_STOP.get(self.out.finish, "end_turn"), "stop_sequence": None},
                    "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
                },
            )
        )
        parts.append(_event("message_stop", {"type": "message_stop"}))
        return b"".join(parts)


def anthropic_message(rid, model, out, prompt_tokens):
    """Non-streaming ``/v1/messages`` body."""
    content = []
    if out.tool is not None:
        content.append(
            {
                "type": "tool_use",
                "id": out.tool.call_id,
                "name": out.tool.name,
                "input": json.loads(out.tool.arguments) if out.total > len(out.tool.pieces) else {},
            }
        )
    else:
        if out.reasoning:
            content.append({"type": "thinking", "thinking": out.text(0, out.reasoning), "signature": ""})
        content.append({"type": "text", "text": out.text(out.reasoning, out.total)})
    return {
        "id": rid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": ANTHROPIC_STOP.get(out.finish, "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": out.total},
    }


def chat_message(rid, created, model, out, prompt_tokens):
    """Non-streaming ``/v1/chat/completions`` body."""
    message = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": [],
        "reasoning_content": None,
    }
    if out.tool is not None:
        args = "".join(out.tool.pieces[: max(0, out.total - 1)])
        message["tool_calls"] = [
            {"id": out.tool.call_id, "type": "function", "function": {"name": out.tool.name, "arguments": args}}
        ]
    else:
        message["content"] = out.text(out.reasoning, out.total)
        if out.reasoning:
            message["reasoning_content"] = out.text(0, out.reasoning)
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": out.finish, "stop_reason": None}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + out.total,
            "completion_tokens": out.total,
            "prompt_tokens_details": None,
        },
        "prompt_logprobs": None,
    }


def completion_body(rid, created, model, out, prompt_tokens):
    return {
        "id": rid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "text": out.text(0, out.total),
                "logprobs": None,
                "finish_reason": out.finish,
                "stop_reason": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + out.total,
            "completion_tokens": out.total,
        },
    }
