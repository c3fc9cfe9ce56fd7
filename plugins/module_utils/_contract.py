# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenAI/Anthropic contract checks of openai_verify, one method of :class:`Checks` per check,
and the pure functions that summarize and judge a stream (tests feed them canned events).

Every problem a user can act on is a :class:`VerifyError` whose message says what was found,
why it breaks the contract and what to change.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import VerifyError
from ansible_collections.llmfleet.serving.plugins.module_utils._http import Response, describe_unreachable, excerpt
from ansible_collections.llmfleet.serving.plugins.module_utils._preflight import list_models
from ansible_collections.llmfleet.serving.plugins.module_utils._secrets import mask_secret, scrub
from ansible_collections.llmfleet.serving.plugins.module_utils._sse import iter_sse

# Tool calls may be preceded by some thinking on real models: give them room.
TOOLS_MIN_TOKENS = 256
PROMPT = "Say hello in one short sentence."
ANTHROPIC_VERSION = "2023-06-01"


def reasoning_of(obj):
    """Reasoning text of a message or delta: vLLM/SGLang call it ``reasoning_content``; newer vLLM ``reasoning``."""
    if not isinstance(obj, dict):
        return ""
    for key in ("reasoning_content", "reasoning"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def summarize_chat_stream(events):
    """What an OpenAI chat stream delivered. ``events``: ``(seconds since the request, event, data)``."""
    s = {
        "chunks": 0,
        "role": None,
        "content": "",
        "reasoning": "",
        "tool_calls": 0,
        "finish_reason": None,
        "usage": None,
        "done": False,
        "after_done": 0,
        "first_token_s": None,
        "errors": [],
        "bad_json": None,
        "model": None,
    }
    for at, _event, data in events:
        if s["done"]:
            s["after_done"] += 1
            continue
        if data.strip() == "[DONE]":
            s["done"] = True
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            s["bad_json"] = s["bad_json"] or data[:200]
            continue
        if not isinstance(chunk, dict):
            s["bad_json"] = s["bad_json"] or data[:200]
            continue
        if "error" in chunk:
            err = chunk["error"]
            s["errors"].append(err.get("message", str(err)) if isinstance(err, dict) else str(err))
            continue
        s["chunks"] += 1
        s["model"] = s["model"] or chunk.get("model")
        if isinstance(chunk.get("usage"), dict) and not chunk.get("choices"):
            s["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("role") and s["role"] is None:
                s["role"] = delta["role"]
            text = delta.get("content") or ""
            reasoning = reasoning_of(delta)
            if text or reasoning or delta.get("tool_calls"):
                if s["first_token_s"] is None:
                    s["first_token_s"] = at
            s["content"] += text
            s["reasoning"] += reasoning
            s["tool_calls"] += len(delta.get("tool_calls") or [])
            if choice.get("finish_reason"):
                s["finish_reason"] = choice["finish_reason"]
    return s


def judge_chat_stream(s):
    """Raise VerifyError when the summary breaks the streaming contract; else return the detail line."""
    if s["errors"]:
        raise VerifyError("the stream carried an error: %s" % s["errors"][0])
    if s["bad_json"] is not None:
        raise VerifyError("a stream chunk is not JSON: %r" % s["bad_json"])
    if not s["chunks"]:
        raise VerifyError("the stream ended without a single chunk%s" % (" (only data: [DONE])" if s["done"] else ""))
    if s["role"] != "assistant":
        raise VerifyError(
            "no role chunk: no delta carried role 'assistant' (OpenAI clients expect it in the first chunk)"
        )
    if not (s["content"] or s["reasoning"]):
        raise VerifyError("the stream had %d chunks but no content or reasoning text" % s["chunks"])
    if s["usage"] is None:
        raise VerifyError(
            "no usage chunk although the request set stream_options.include_usage=true: clients that "
            "count tokens from the stream (benchmarks, billing) get nothing"
        )
    completion = s["usage"].get("completion_tokens")
    if not isinstance(completion, int) or completion < 1:
        raise VerifyError("the usage chunk reports completion_tokens=%r for a stream that carried text" % (completion,))
    if not s["done"]:
        raise VerifyError("the stream ended without 'data: [DONE]'")
    if s["after_done"]:
        raise VerifyError("%d event(s) came after 'data: [DONE]'" % s["after_done"])
    first = s["first_token_s"]
    return (
        "%d chunks, role chunk, %d completion tokens (finish_reason %s), first token after %s, usage chunk, [DONE]"
        % (s["chunks"], completion, s["finish_reason"], "%d ms" % round(first * 1000) if first is not None else "?")
    )


def summarize_anthropic_stream(events):
    """What an Anthropic Messages stream delivered (event names and the parts that matter)."""
    s = {
        "events": [],
        "text": "",
        "thinking": "",
        "tool_use": 0,
        "stop_reason": None,
        "output_tokens": None,
        "errors": [],
        "bad_json": None,
        "first_token_s": None,
    }
    for at, event, data in events:
        try:
            payload = json.loads(data)
        except ValueError:
            s["bad_json"] = s["bad_json"] or data[:200]
            continue
        if not isinstance(payload, dict):
            s["bad_json"] = s["bad_json"] or data[:200]
            continue
        kind = payload.get("type") or event
        s["events"].append(kind)
        if kind == "error":
            err = payload.get("error")
            s["errors"].append(err.get("message", str(err)) if isinstance(err, dict) else str(err))
        elif kind == "content_block_start" and (payload.get("content_block") or {}).get("type") == "tool_use":
            s["tool_use"] += 1
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            s["text"] += delta.get("text") or ""
            s["thinking"] += delta.get("thinking") or ""
            if s["first_token_s"] is None and (delta.get("text") or delta.get("thinking") or delta.get("partial_json")):
                s["first_token_s"] = at
        elif kind == "message_delta":
            s["stop_reason"] = (payload.get("delta") or {}).get("stop_reason")
            usage = payload.get("usage") or {}
            if "output_tokens" in usage:
                s["output_tokens"] = usage["output_tokens"]
    return s


def judge_anthropic_stream(s):
    if s["errors"]:
        raise VerifyError("the stream carried an error event: %s" % s["errors"][0])
    if s["bad_json"] is not None:
        raise VerifyError("an event is not JSON: %r" % s["bad_json"])
    events = s["events"]
    missing = [
        name for name in ("message_start", "content_block_delta", "message_delta", "message_stop") if name not in events
    ]
    if missing:
        raise VerifyError(
            "the stream lacks %s (events seen: %s); Claude Code needs message_start, content "
            "block deltas, message_delta and message_stop" % (", ".join(missing), ", ".join(events) or "none")
        )
    if events[0] != "message_start" or events[-1] != "message_stop":
        raise VerifyError(
            "the stream must start with message_start and end with message_stop; it went %s ... %s"
            % (events[0], events[-1])
        )
    if not (s["text"] or s["thinking"] or s["tool_use"]):
        raise VerifyError("the stream had no text, thinking or tool_use content")
    if not isinstance(s["output_tokens"], int) or s["output_tokens"] < 1:
        raise VerifyError("message_delta reports usage.output_tokens=%r" % (s["output_tokens"],))
    first = s["first_token_s"]
    return (
        "%d events (message_start ... message_stop), %d output tokens, stop_reason %s, first token after %s, "
        "text %r"
        % (
            len(events),
            s["output_tokens"],
            s["stop_reason"],
            "%d ms" % round(first * 1000) if first is not None else "?",
            excerpt(s["text"] or s["thinking"]),
        )
    )


class Checks:
    """One method per check; each returns its detail line or raises VerifyError."""

    def __init__(self, client, served_model_name, max_tokens, clock=time.monotonic):
        self.client = client
        self.model = served_model_name
        self.max_tokens = max_tokens
        self.clock = clock
        self.readiness = None

    # -- helpers
    def http_problem(self, method, path, resp):
        """The message for an unexpected status, with the key masked and a hint where one helps."""
        key = self.client.api_key
        if resp.status == 401:
            if key:
                return (
                    "401 Unauthorized: the API key given (%s) is not accepted by %s (%s %s): use the key the "
                    "server was started with (serve_api_key; vLLM's VLLM_API_KEY or --api-key)"
                    % (mask_secret(key), self.client.base_url, method, path)
                )
            return (
                "401 Unauthorized from %s %s: the server requires an API key; set api_key (the role's "
                "verify_api_key) to the key it was started with" % (method, self.client.url(path))
            )
        text = scrub(resp.error_text(), key)
        msg = "%s %s answered %d: %s" % (method, self.client.url(path), resp.status, text)
        if resp.status == 404 and "model" in text.lower():
            msg += (
                " (served_model_name is %r: the server serves another model; check serve_served_model_name "
                "or the base_url)" % self.model
            )
        return msg

    def _json_ok(self, method, path, body=None, **kw):
        resp = self.client.request(method, path, body, **kw)
        if resp.status != 200:
            raise VerifyError(self.http_problem(method, path, resp))
        data = resp.json()
        if not isinstance(data, dict):
            raise VerifyError(
                "%s %s answered 200 but not with a JSON object: %s"
                % (method, self.client.url(path), excerpt(resp.body.decode("utf-8", "replace"), 200))
            )
        return data

    def _chat_body(self, **extra):
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": self.max_tokens,
            "temperature": 0,
        }
        body.update(extra)
        return body

    def _stream_events(self, path, body, headers=None):
        """[(seconds since the request, event, data)] of a streamed answer, and its content type."""
        status, resp, start = self.client.open("POST", path, body, headers=headers)
        try:
            if status != 200:
                payload = resp.read()
                raise VerifyError(self.http_problem("POST", path, Response(status, resp.headers, payload, 0.0)))
            ctype = resp.headers.get("Content-Type", "")
            if "text/event-stream" not in ctype:
                raise VerifyError(
                    "POST %s with stream=true answered Content-Type %r, not text/event-stream"
                    % (self.client.url(path), ctype)
                )
            events = []
            try:
                for event, data in iter_sse(resp):
                    events.append((self.clock() - start, event, data))
            except (OSError, http.client.HTTPException) as exc:
                raise VerifyError(
                    "the stream from POST %s broke off after %d events: %s (request_timeout %g s)"
                    % (self.client.url(path), len(events), describe_unreachable(exc), self.client.request_timeout)
                ) from exc
            return events
        finally:
            resp.close()

    # -- checks
    def health(self):
        r = self.readiness
        return "GET /health answered 200 after %.1f s of waiting (%d polls)" % (r["ready_after_s"], r["polls"])

    def models(self):
        resp, ids = list_models(self.client)
        if resp.status != 200:
            raise VerifyError(self.http_problem("GET", "/v1/models", resp))
        if ids is None:
            raise VerifyError(
                "GET %s answered 200 but not with a JSON object: %s"
                % (self.client.url("/v1/models"), excerpt(resp.body.decode("utf-8", "replace"), 200))
            )
        if self.model not in ids:
            raise VerifyError(
                "/v1/models lists %r but served_model_name is %r: the server serves another model; "
                "check serve_served_model_name or the base_url" % (ids, self.model),
                models=ids,
            )
        return "/v1/models lists %r" % ids

    def chat(self):
        data = self._json_ok("POST", "/v1/chat/completions", self._chat_body())
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            raise VerifyError("the chat completion has no choices: %s" % excerpt(json.dumps(data), 200))
        message = choices[0].get("message") or {}
        content = message.get("content") or ""
        reasoning = reasoning_of(message)
        finish = choices[0].get("finish_reason")
        usage = data.get("usage")
        if not isinstance(usage, dict):
            raise VerifyError("the chat completion has no usage object (prompt_tokens, completion_tokens)")
        prompt_t, completion_t = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if not (isinstance(prompt_t, int) and prompt_t > 0 and isinstance(completion_t, int) and completion_t > 0):
            raise VerifyError(
                "the chat completion's usage is %r: prompt_tokens and completion_tokens must be > 0" % usage
            )
        if not content:
            if reasoning and finish == "length":
                return (
                    "%d prompt + %d completion tokens, all %d spent on reasoning (finish_reason length; raise "
                    "max_tokens to see content)" % (prompt_t, completion_t, self.max_tokens)
                )
            raise VerifyError("the chat completion has no content (finish_reason %s, usage %r)" % (finish, usage))
        return "%d prompt + %d completion tokens, finish_reason %s, content %r" % (
            prompt_t,
            completion_t,
            finish,
            excerpt(content),
        )

    def chat_stream(self):
        body = self._chat_body(stream=True, stream_options={"include_usage": True})
        events = self._stream_events("/v1/chat/completions", body)
        return judge_chat_stream(summarize_chat_stream(events))

    def auth(self):
        key = self.client.api_key
        path = "/v1/models"
        results = []
        for label, offered in (("without a key", None), ("with a wrong key", "llmfleet-verify-" + uuid.uuid4().hex)):
            resp = self.client.request("GET", path, key=offered)
            if resp.status == 200:
                raise VerifyError(
                    "the endpoint is open: GET %s %s answered 200 although an API key (%s) is configured; the server "
                    "was not started with the key (serve_api_key: VLLM_API_KEY or --api-key)"
                    % (self.client.url(path), label, mask_secret(key))
                )
            if resp.status not in (401, 403):
                raise VerifyError(
                    "GET %s %s answered %d (%s); expected 401 Unauthorized"
                    % (self.client.url(path), label, resp.status, resp.error_text())
                )
            results.append("%s: %d" % (label, resp.status))
        resp = self.client.request("GET", path)
        if resp.status != 200:
            raise VerifyError(self.http_problem("GET", path, resp))
        results.append("with the key given (%s): 200" % mask_secret(key))
        return "GET /v1/models " + "; ".join(results)

    def tools(self):
        tool = {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "description": "City name"}},
                    "required": ["city"],
                },
            },
        }
        body = self._chat_body(tools=[tool], tool_choice="auto", max_tokens=max(self.max_tokens, TOOLS_MIN_TOKENS))
        body["messages"] = [
            {"role": "user", "content": "What is the weather in Paris right now? Use the get_weather tool."}
        ]
        resp = self.client.request("POST", "/v1/chat/completions", body)
        if resp.status == 400 and "tool" in resp.error_text().lower():
            raise VerifyError(
                "the server refuses tool calls: %s. Start vLLM with --enable-auto-tool-choice "
                "--tool-call-parser NAME (the seed uses deepseek_v4), SGLang with --tool-call-parser NAME"
                % resp.error_text()
            )
        if resp.status != 200:
            raise VerifyError(self.http_problem("POST", "/v1/chat/completions", resp))
        data = resp.json() or {}
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        calls = message.get("tool_calls") or []
        if not calls:
            raise VerifyError(
                "no tool_calls in the reply (finish_reason %s, content %r): the server returned the call as text, "
                "which means it has no tool-call parser; start it with --tool-call-parser NAME (and "
                "--enable-auto-tool-choice on vLLM)" % (choice.get("finish_reason"), excerpt(message.get("content")))
            )
        fn = (calls[0] or {}).get("function") or {}
        if fn.get("name") != "get_weather":
            raise VerifyError("the tool call names %r, not the only tool offered, 'get_weather'" % fn.get("name"))
        try:
            args = json.loads(fn.get("arguments") or "")
        except ValueError:
            raise VerifyError(
                "the tool call's arguments are not JSON: %r" % excerpt(fn.get("arguments"), 200)
            ) from None
        if not isinstance(args, dict):
            raise VerifyError("the tool call's arguments are %r, not a JSON object" % (args,))
        return "tool_calls[0]: get_weather(%s), finish_reason %s" % (json.dumps(args), choice.get("finish_reason"))

    def reasoning(self):
        # DeepSeek's chat templates read "thinking", Qwen's "enable_thinking"; templates ignore the other.
        body = self._chat_body(chat_template_kwargs={"thinking": True, "enable_thinking": True})
        data = self._json_ok("POST", "/v1/chat/completions", body)
        message = ((data.get("choices") or [{}])[0] or {}).get("message") or {}
        reasoning = reasoning_of(message)
        if not reasoning:
            raise VerifyError(
                "no reasoning_content in the reply to a request that asked to think (chat_template_kwargs thinking): "
                "start the server with a reasoning parser (vLLM --reasoning-parser NAME, the seed uses deepseek_v4; "
                "SGLang --reasoning-parser NAME); content was %r" % excerpt(message.get("content"))
            )
        return "reasoning_content %r, content %r" % (excerpt(reasoning, 40), excerpt(message.get("content"), 40))

    def anthropic(self):
        # What Claude Code sends with the settings the verify role prints: ANTHROPIC_AUTH_TOKEN ->
        # Authorization: Bearer (the header vLLM and SGLang check); without a key, the seed's
        # ANTHROPIC_API_KEY="dummy" -> x-api-key.
        headers = {"anthropic-version": ANTHROPIC_VERSION, "Accept": "text/event-stream"}
        if not self.client.api_key:
            headers["x-api-key"] = "dummy"
        body = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "stream": True,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        try:
            events = self._stream_events("/v1/messages", body, headers=headers)
        except VerifyError as exc:
            if " answered 404" in exc.msg and "model" not in exc.msg.lower():
                raise VerifyError(
                    "%s: this server does not serve the Anthropic-style /v1/messages endpoint that "
                    "Claude Code uses (ANTHROPIC_BASE_URL); use an engine image that has it, or drop "
                    "the anthropic check" % exc.msg
                ) from exc
            raise
        return judge_anthropic_stream(summarize_anthropic_stream(events))
