"""What a request generates: how many tokens, why it stops, which are reasoning or a tool call.

Rules (all deterministic):

* Token budget: ``max_completion_tokens``, else ``max_tokens``, else what the context leaves
  (``max_model_len - prompt_tokens``), as vLLM does.
* Natural end ("EOS"): ``16 + crc32(prompt text, EMULATOR_SEED) % 497`` tokens (16..512). Without
  ``ignore_eos`` a request stops there with ``finish_reason: "stop"`` when that comes before the
  budget; with ``ignore_eos: true`` it always runs to the budget (``"length"``).
* Reasoning: when the engine was started with a reasoning parser and the request asks to think
  (``chat_template_kwargs: {"thinking": true}`` or ``{"enable_thinking": true}``, a
  ``reasoning_effort`` other than ``"none"``, Anthropic ``thinking: {"type": "enabled"}``, or the
  header ``x-emulator-thinking: 1``), the first half (rounded down) of the tokens is reasoning.
* Tool calls: see :func:`pick_tool`. A call is one token for the function name plus one per
  space-separated piece of its JSON arguments; it ends with ``finish_reason: "tool_calls"``
  (ignore_eos does not stretch it), or ``"length"`` when the budget cuts it short.
* Text: each token is a vocabulary word with a leading space, taken in a fixed cycle from a
  per-request offset, so the streamed text re-tokenizes to ``completion_tokens``.
"""

from __future__ import annotations

import dataclasses
import json
import zlib

from . import tokenizer

POOL_SIZE = 4096
_POOL = [
    (" " + tokenizer.VOCAB[tokenizer.FIRST_WORD_ID + (i * 7) % (tokenizer.VOCAB_SIZE - tokenizer.FIRST_WORD_ID)])
    for i in range(POOL_SIZE)
]
POOL_BYTES = [w.encode("ascii") for w in _POOL] * 2  # doubled: a slice never wraps
POOL_TEXT = _POOL * 2


class RequestError(Exception):
    """A request the engine refuses (HTTP status, OpenAI error type, message)."""

    def __init__(self, status, message, kind=None, param=None):
        super().__init__(message)
        self.status = status
        self.kind = kind or {
            400: "BadRequestError",
            401: "AuthenticationError",
            404: "NotFoundError",
            500: "InternalServerError",
            503: "ServiceUnavailableError",
        }.get(status, "Error")
        self.param = param


@dataclasses.dataclass
class ToolCall:
    call_id: str
    name: str
    arguments: str
    pieces: list  # argument text per token after the name token


@dataclasses.dataclass
class Output:
    total: int
    finish: str  # stop | length | tool_calls
    reasoning: int = 0
    tool: ToolCall = None
    offset: int = 0

    def text(self, start, end):
        """Content/reasoning text of tokens [start, end)."""
        o = (self.offset + start) % POOL_SIZE
        return (
            "".join(POOL_TEXT[o : o + (end - start)])
            if end - start <= POOL_SIZE
            else "".join(POOL_TEXT[(self.offset + i) % POOL_SIZE] for i in range(start, end))
        )

    def text_bytes(self, start, end):
        o = (self.offset + start) % POOL_SIZE
        return b"".join(POOL_BYTES[o : o + (end - start)])


def natural_length(prompt_key, seed):
    return 16 + zlib.crc32(prompt_key, seed & 0xFFFFFFFF) % 497


def wants_thinking(body, headers):
    if headers.get("x-emulator-thinking", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, dict) and (kwargs.get("thinking") or kwargs.get("enable_thinking")):
        return True
    effort = body.get("reasoning_effort")
    if effort not in (None, "", "none"):
        return True
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def _example_value(schema):
    if not isinstance(schema, dict):
        return "emulated"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}, "null": None}.get(kind, "emulated")


def tool_arguments(parameters):
    """JSON arguments a schema accepts: required properties (all, when none is required)."""
    props = parameters.get("properties") if isinstance(parameters, dict) else None
    if not isinstance(props, dict):
        return {}
    names = parameters.get("required") or list(props)
    return {name: _example_value(props.get(name)) for name in names if name in props}


def _tool_parts(tool, anthropic):
    if anthropic:
        return tool.get("name"), tool.get("input_schema") or {}
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(fn, dict):
        return None, {}
    return fn.get("name"), fn.get("parameters") or {}


def pick_tool(tools, tool_choice, messages, last_text, anthropic=False):
    """The tool to call, or None for a text answer.

    * tool_choice ``none`` -> text; a named choice -> that tool; ``required``/``any`` -> as auto,
      but always a tool.
    * auto: a text answer when the last message is a tool result (so agent loops end); otherwise
      the first tool whose name appears in the last user message, else the first tool.
    """
    if not tools:
        return None
    if tool_choice in ("none",) or (isinstance(tool_choice, dict) and tool_choice.get("type") == "none"):
        return None
    named = None
    if isinstance(tool_choice, dict):
        named = (tool_choice.get("function") or {}).get("name") if not anthropic else tool_choice.get("name")
    forced = (
        named is not None
        or tool_choice in ("required", "any")
        or (isinstance(tool_choice, dict) and tool_choice.get("type") in ("any", "tool"))
    )
    parts = [_tool_parts(t, anthropic) for t in tools]
    if named is not None:
        for name, params in parts:
            if name == named:
                return name, params
        raise RequestError(400, "tool_choice names %r, which is not among the tools" % named)
    if not forced and messages:
        last = messages[-1]
        if last.get("role") in ("tool", "function"):
            return None
        content = last.get("content")
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "tool_result" for p in content):
            return None
    for name, params in parts:
        if name and name in last_text:
            return name, params
    name, params = parts[0]
    if not name:
        raise RequestError(400, "each tool needs a name")
    return name, params


def make_tool_call(name, params, call_id):
    args = json.dumps(tool_arguments(params))
    words = args.split(" ")
    pieces = [words[0]] + [" " + w for w in words[1:]]
    return ToolCall(call_id=call_id, name=name, arguments=args, pieces=pieces)


def plan_output(budget, ignore_eos, natural, thinking, tool, faults, offset):
    """The Output for a request (see module docstring); ``faults`` may shorten it."""
    if tool is not None:
        need = 1 + len(tool.pieces)
        total = min(budget, need)
        out = Output(total=total, finish="tool_calls" if total == need else "length", tool=tool, offset=offset)
    else:
        if faults.ignore_ignore_eos:
            ignore_eos = False
        if ignore_eos or natural >= budget:
            out = Output(
                total=budget, finish="stop" if (not ignore_eos and natural == budget) else "length", offset=offset
            )
        else:
            out = Output(total=natural, finish="stop", offset=offset)
        if thinking:
            out.reasoning = out.total // 2
    if faults.stop_early is not None and out.total > faults.stop_early:
        out.total = faults.stop_early
        out.finish = "stop"
        out.reasoning = min(out.reasoning, out.total // 2)
    return out
