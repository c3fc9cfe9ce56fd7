# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Endpoint verification for ``openai_verify``: wait for readiness, then check the contract.

Runs on GPU hosts, so only the standard library is used (urllib for requests, a small
server-sent-events reader for the streams). The pieces, each usable on its own:

* :func:`mask_secret` / :func:`scrub` keep API keys out of everything returned.
* :func:`iter_sse` and the ``summarize_*`` / ``judge_*`` functions read and judge streams
  (pure: tests feed them canned bytes).
* :class:`Client` does HTTP; :class:`UnitWatch` / :class:`ContainerWatch` notice an engine that
  died while it was loading; :func:`wait_ready` polls ``/health``.
* :class:`Checks` holds one method per contract check; :func:`verify` runs the whole thing.

Every problem a user can act on is a :class:`VerifyError` whose message says what was found,
why it breaks the contract and what to change.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import VerifyError

DEFAULT_CHECKS = ("health", "models", "chat", "chat_stream")
OPTIONAL_CHECKS = ("auth", "tools", "reasoning", "anthropic")
ALL_CHECKS = DEFAULT_CHECKS + OPTIONAL_CHECKS
JOURNAL_LINES = 30
# Tool calls may be preceded by some thinking on real models: give them room.
TOOLS_MIN_TOKENS = 256
PROMPT = "Say hello in one short sentence."
ANTHROPIC_VERSION = "2023-06-01"
# A connect that hangs (packets dropped) must not eat the whole readiness wait.
PROBE_TIMEOUT_MAX = 10.0


# ---- secrets ---------------------------------------------------------------------------------

def mask_secret(value):
    """A key as it may be shown: ``sk-…abcd`` for long keys, ``********`` for short ones.

    Short keys are hidden completely: their last four characters would give away too much.
    """
    if not value:
        return ""
    value = str(value)
    if len(value) < 16:
        return "********"
    prefix = ""
    for sep in ("-", "_"):
        pos = value.find(sep)
        if 0 < pos <= 3:
            prefix = value[:pos + 1]
            break
    return prefix + "\u2026" + value[-4:]


def scrub(text, secret):
    """``text`` with every occurrence of ``secret`` replaced by its mask."""
    if not secret or not text:
        return text
    return text.replace(secret, mask_secret(secret))


# ---- server-sent events ----------------------------------------------------------------------

def iter_sse(lines):
    """Yield ``(event, data)`` for each event of a server-sent-event stream.

    ``lines`` yields the stream's lines (bytes or str, with or without line ends). Events end at a
    blank line; ``event:`` names them (``message`` when absent, as in the SSE specification);
    several ``data:`` lines are joined with newlines; comments (``:``) are skipped.
    """
    event, data = None, []
    for raw in lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _sep, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield event or "message", "\n".join(data)


def _reasoning_of(obj):
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
    s = {"chunks": 0, "role": None, "content": "", "reasoning": "", "tool_calls": 0, "finish_reason": None,
         "usage": None, "done": False, "after_done": 0, "first_token_s": None, "errors": [], "bad_json": None,
         "model": None}
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
            reasoning = _reasoning_of(delta)
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
        raise VerifyError("the stream ended without a single chunk%s"
                          % (" (only data: [DONE])" if s["done"] else ""))
    if s["role"] != "assistant":
        raise VerifyError("no role chunk: no delta carried role 'assistant' (OpenAI clients expect it in the first chunk)")
    if not (s["content"] or s["reasoning"]):
        raise VerifyError("the stream had %d chunks but no content or reasoning text" % s["chunks"])
    if s["usage"] is None:
        raise VerifyError("no usage chunk although the request set stream_options.include_usage=true: clients that "
                          "count tokens from the stream (benchmarks, billing) get nothing")
    completion = s["usage"].get("completion_tokens")
    if not isinstance(completion, int) or completion < 1:
        raise VerifyError("the usage chunk reports completion_tokens=%r for a stream that carried text" % (completion,))
    if not s["done"]:
        raise VerifyError("the stream ended without 'data: [DONE]'")
    if s["after_done"]:
        raise VerifyError("%d event(s) came after 'data: [DONE]'" % s["after_done"])
    first = s["first_token_s"]
    return ("%d chunks, role chunk, %d completion tokens (finish_reason %s), first token after %s, usage chunk, [DONE]"
            % (s["chunks"], completion, s["finish_reason"], "%d ms" % round(first * 1000) if first is not None else "?"))


def summarize_anthropic_stream(events):
    """What an Anthropic Messages stream delivered (event names and the parts that matter)."""
    s = {"events": [], "text": "", "thinking": "", "tool_use": 0, "stop_reason": None, "output_tokens": None,
         "errors": [], "bad_json": None, "first_token_s": None}
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
    missing = [name for name in ("message_start", "content_block_delta", "message_delta", "message_stop")
               if name not in events]
    if missing:
        raise VerifyError("the stream lacks %s (events seen: %s); Claude Code needs message_start, content "
                          "block deltas, message_delta and message_stop" % (", ".join(missing), ", ".join(events) or "none"))
    if events[0] != "message_start" or events[-1] != "message_stop":
        raise VerifyError("the stream must start with message_start and end with message_stop; it went %s ... %s"
                          % (events[0], events[-1]))
    if not (s["text"] or s["thinking"] or s["tool_use"]):
        raise VerifyError("the stream had no text, thinking or tool_use content")
    if not isinstance(s["output_tokens"], int) or s["output_tokens"] < 1:
        raise VerifyError("message_delta reports usage.output_tokens=%r" % (s["output_tokens"],))
    first = s["first_token_s"]
    return ("%d events (message_start ... message_stop), %d output tokens, stop_reason %s, first token after %s, "
            "text %r" % (len(events), s["output_tokens"], s["stop_reason"],
                         "%d ms" % round(first * 1000) if first is not None else "?", _excerpt(s["text"] or s["thinking"])))


def _excerpt(text, limit=60):
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---- report ----------------------------------------------------------------------------------

def report_entry(name, passed, latency_s, detail):
    """One line of the report, as documented in the module's RETURN."""
    return {"name": name, "passed": bool(passed),
            "latency_ms": None if latency_s is None else round(latency_s * 1000.0, 1), "detail": detail}


def summarize_report(report, ready_after_s):
    """One line for the task's msg: ``5/5 checks passed (health 2 ms, ...) after 12.3 s of loading``."""
    passed = [e for e in report if e["passed"]]
    parts = ", ".join("%s %s ms" % (e["name"], "?" if e["latency_ms"] is None else "%g" % e["latency_ms"])
                      for e in report)
    return "%d/%d checks passed (%s); ready after %.1f s" % (len(passed), len(report), parts, ready_after_s or 0.0)


def resolve_checks(checks, api_key):
    """The checks to run, in order, without duplicates. None: the defaults (+ auth with a key)."""
    if checks is None:
        chosen = list(DEFAULT_CHECKS) + (["auth"] if api_key else [])
    else:
        chosen = []
        for name in checks:
            if name not in ALL_CHECKS:
                raise VerifyError("checks has %r, which is not a check; the checks are %s"
                                  % (name, ", ".join(ALL_CHECKS)))
            if name not in chosen:
                chosen.append(name)
        if not chosen:
            raise VerifyError("checks is an empty list: leave it out for the defaults (%s), or name checks from %s"
                              % (", ".join(DEFAULT_CHECKS), ", ".join(ALL_CHECKS)))
    if "auth" in chosen and not api_key:
        raise VerifyError("checks has 'auth' but api_key is not set: the auth check proves that requests without "
                          "the key are refused, so it needs the key (api_key, the role's verify_api_key)")
    return chosen


def normalize_base_url(base_url):
    """(root URL, warnings). Accepts the OpenAI-style URL ending in /v1 and drops that part."""
    warnings = []
    url = (base_url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise VerifyError("base_url %r is not an http:// or https:// URL; give the server root, for example "
                          "http://127.0.0.1:8000" % base_url)
    if url.endswith("/v1"):
        url = url[:-3]
        warnings.append("base_url %r ends in /v1; using the server root %s (the module adds /v1/... itself)"
                        % (base_url, url))
    host = url.split("://", 1)[1].split("/", 1)[0]
    if not host:
        raise VerifyError("base_url %r has no host; for example http://127.0.0.1:8000" % base_url)
    return url, warnings


# ---- HTTP ------------------------------------------------------------------------------------

class Unreachable(Exception):
    """No HTTP answer: refused, reset, timed out, name not resolved. ``str()`` says which."""


class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8", "replace"))
        except ValueError:
            return None

    def error_text(self):
        """The server's own error message (OpenAI, Anthropic, FastAPI or plain text), shortened."""
        data = self.json()
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict) and err.get("message"):
                return str(err["message"])[:300]
            if isinstance(err, str):
                return err[:300]
            if data.get("detail"):
                return str(data["detail"])[:300]
            if data.get("message"):
                return str(data["message"])[:300]
        text = self.body.decode("utf-8", "replace").strip()
        return _excerpt(text, 300) or "(empty body)"


def describe_unreachable(exc):
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (the port is closed, as while the engine loads the model)"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve (%s)" % reason
    if isinstance(reason, ssl.SSLError):
        return "TLS error (%s)" % reason
    text = str(reason) or reason.__class__.__name__
    return text


class Client:
    """Requests against one server; adds the key unless told not to."""

    def __init__(self, base_url, api_key=None, request_timeout=300.0, validate_certs=True, use_proxy=False,
                 clock=time.monotonic):
        self.base_url = base_url
        self.api_key = api_key or None
        self.request_timeout = request_timeout
        self.clock = clock
        handlers = []
        if not use_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        if base_url.startswith("https://"):
            context = ssl.create_default_context()
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def url(self, path):
        return self.base_url + path

    def _headers(self, key, extra):
        headers = {"Accept": "application/json", "User-Agent": "llmfleet.serving.openai_verify"}
        if key:
            headers["Authorization"] = "Bearer " + key
        headers.update(extra or {})
        return headers

    def open(self, method, path, body=None, key="default", headers=None, timeout=None):
        """(status, response object to read, start time). ``key``: "default" (the module's), None, or a string."""
        key = self.api_key if key == "default" else key
        data = None
        hdrs = self._headers(key, headers)
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url(path), data=data, method=method, headers=hdrs)
        start = self.clock()
        try:
            resp = self.opener.open(req, timeout=timeout or self.request_timeout)
            return resp.status, resp, start
        except urllib.error.HTTPError as exc:
            return exc.code, exc, start
        except (urllib.error.URLError, OSError) as exc:
            raise Unreachable(describe_unreachable(exc))
        except http.client.HTTPException as exc:  # BadStatusLine and friends: something answered, not HTTP
            raise Unreachable("the connection closed without a valid HTTP answer (%s)" % exc.__class__.__name__)

    def request(self, method, path, body=None, key="default", headers=None, timeout=None):
        """The whole answer as a :class:`Response`."""
        status, resp, start = self.open(method, path, body, key, headers, timeout)
        try:
            payload = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable("the answer broke off (%s)" % describe_unreachable(exc))
        finally:
            resp.close()
        return Response(status, resp.headers, payload, self.clock() - start)


# ---- watching the unit / container while waiting ---------------------------------------------

def _tail(text, lines=JOURNAL_LINES):
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


class UnitWatch:
    """Fails fast when the systemd unit that runs the engine has stopped, failed or is restarting."""

    def __init__(self, unit, run, systemctl, journalctl, secret=None):
        self.unit = unit
        self.run = run
        self.systemctl = systemctl
        self.journalctl = journalctl
        self.secret = secret
        self.state = None

    def describe(self):
        return "unit %s %s" % (self.unit, self.state or "not checked")

    def check(self, waited_s):
        rc, out, err = self.run([self.systemctl, "is-active", self.unit])
        state = (out or "").strip().splitlines()[-1:] or [""]
        state = state[0] or "unknown"
        if state == "activating":
            _rc, sub, _err = self.run([self.systemctl, "show", "-p", "SubState", "--value", self.unit])
            if (sub or "").strip() == "auto-restart":
                state = "activating (auto-restart)"
        self.state = state
        if state in ("failed", "inactive", "activating (auto-restart)"):
            why = {
                "failed": "the engine exited with an error",
                "inactive": "nothing runs the engine: it exited cleanly or was stopped, never started, or there is no unit of that name",
                "activating (auto-restart)": "the engine exited and systemd is waiting to restart it",
            }[state]
            rc_j, journal, jerr = self.run([self.journalctl, "-u", self.unit, "-n", str(JOURNAL_LINES), "--no-pager"])
            journal = scrub(_tail(journal), self.secret)
            if not journal.strip():
                journal = "(journalctl printed nothing%s)" % (": " + scrub(jerr.strip(), self.secret) if jerr else "")
            raise VerifyError(
                "systemd unit %s is %s after %.1f s of waiting for the server: %s. Last %d lines of "
                "journalctl -u %s:\n%s" % (self.unit, state, waited_s, why, JOURNAL_LINES, self.unit, journal),
                unit_state=state, journal=journal.splitlines())


class ContainerWatch:
    """Fails fast when the engine's container has exited (or vanished after running)."""

    def __init__(self, name, run, cli, secret=None):
        self.name = name
        self.run = run
        self.cli = cli
        self.secret = secret
        self.seen_running = False
        self.state = None

    def describe(self):
        return "container %s %s" % (self.name, self.state or "not checked")

    def _fail(self, state, waited_s, why):
        _rc, out, err = self.run([self.cli, "logs", "--tail", str(JOURNAL_LINES), self.name])
        logs = scrub(_tail((out or "") + (err or "")), self.secret)
        raise VerifyError(
            "container %s is %s after %.1f s of waiting for the server: %s. Last %d lines of %s logs %s:\n%s"
            % (self.name, state, waited_s, why, JOURNAL_LINES, self.cli, self.name, logs or "(no output)"),
            container_state=state, journal=logs.splitlines())

    def check(self, waited_s):
        rc, out, err = self.run([self.cli, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name])
        if rc != 0:
            if self.seen_running:
                self.state = "gone"
                raise VerifyError(
                    "container %s was running and is gone after %.1f s of waiting for the server: the engine exited "
                    "and the container was removed (docker run --rm); read the unit's journal or the engine's log"
                    % (self.name, waited_s), container_state="gone")
            # Not created yet: the unit may still be pulling the image.
            self.state = "not created yet"
            return
        fields = (out or "").split()
        status = fields[0] if fields else "unknown"
        code = fields[1] if len(fields) > 1 else "?"
        self.state = status
        if status == "running":
            self.seen_running = True
        elif status in ("exited", "dead"):
            self._fail("%s (exit code %s)" % (status, code), waited_s, "the engine exited")
        elif status == "restarting":
            self._fail("restarting (last exit code %s)" % code, waited_s, "the engine exited and the runtime restarts it")


# ---- readiness ---------------------------------------------------------------------------------

def wait_ready(client, timeout, poll_interval, unhealthy_grace, watches=(), clock=time.monotonic, sleep=time.sleep,
               key_hint=None):
    """Poll GET /health until it answers 200. Returns a dict: ready_after_s, polls, latency_s, ready_at.

    Refused/reset/timed-out connections mean "still loading" (vLLM and SGLang keep the port closed
    while loading). A 503 that lasts longer than ``unhealthy_grace`` means the engine died (vLLM);
    the grace covers SGLang's warm-up, during which it answers 503 right after opening the port.
    """
    start = clock()
    deadline = start + timeout
    polls = 0
    last = "no answer yet"
    first_503 = None
    probe_timeout = max(1.0, min(client.request_timeout, PROBE_TIMEOUT_MAX))
    url = client.url("/health")
    while True:
        for watch in watches:
            watch.check(clock() - start)
        polls += 1
        try:
            resp = client.request("GET", "/health", timeout=probe_timeout)
        except Unreachable as exc:
            last = str(exc)
            first_503 = None
        else:
            if resp.status == 200:
                return {"ready_after_s": clock() - start, "polls": polls, "latency_s": resp.elapsed,
                        "ready_at": time.time()}
            if resp.status == 503:
                now = clock()
                first_503 = now if first_503 is None else first_503
                last = "503 Service Unavailable"
                if now - first_503 >= unhealthy_grace:
                    raise VerifyError(
                        "GET %s answers 503 Service Unavailable (for %.1f s, after %.1f s of waiting): the engine died "
                        "behind a live HTTP server (vLLM answers 503 when its engine core is dead). Read the engine's "
                        "log (journalctl -u UNIT, docker logs NAME) and restart the server"
                        % (url, now - first_503, now - start), health_status=503)
            elif resp.status in (502, 504):
                last = "%d from a proxy in front of the server" % resp.status
            elif resp.status == 401:
                raise VerifyError(key_hint("GET", "/health", resp) if key_hint else "GET %s answered 401" % url)
            else:
                raise VerifyError(
                    "GET %s answered %d (%s): this is not the health endpoint of a vLLM or SGLang server; "
                    "check base_url (the role's verify_base_url)" % (url, resp.status, resp.error_text()),
                    health_status=resp.status)
        now = clock()
        if now >= deadline:
            watched = "; ".join(w.describe() for w in watches)
            raise VerifyError(
                "the server did not become ready within %g s: waited for GET %s to answer 200 (%d polls every %g s; "
                "last: %s%s). A large model can take up to an hour to load: raise timeout (the role's verify_timeout) "
                "if the engine is still loading, or read its log (journalctl -u UNIT, docker logs NAME)"
                % (timeout, url, polls, poll_interval, last, "; " + watched if watched else ""),
                waited_s=round(now - start, 3), polls=polls, last=last)
        sleep(max(0.0, min(poll_interval, deadline - now)))


# ---- the checks --------------------------------------------------------------------------------

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
                return ("401 Unauthorized: the API key given (%s) is not accepted by %s (%s %s): use the key the "
                        "server was started with (serve_api_key; vLLM's VLLM_API_KEY or --api-key)"
                        % (mask_secret(key), self.client.base_url, method, path))
            return ("401 Unauthorized from %s %s: the server requires an API key; set api_key (the role's "
                    "verify_api_key) to the key it was started with" % (method, self.client.url(path)))
        text = scrub(resp.error_text(), key)
        msg = "%s %s answered %d: %s" % (method, self.client.url(path), resp.status, text)
        if resp.status == 404 and "model" in text.lower():
            msg += (" (served_model_name is %r: the server serves another model; check serve_served_model_name "
                    "or the base_url)" % self.model)
        return msg

    def _json_ok(self, method, path, body=None, **kw):
        resp = self.client.request(method, path, body, **kw)
        if resp.status != 200:
            raise VerifyError(self.http_problem(method, path, resp))
        data = resp.json()
        if not isinstance(data, dict):
            raise VerifyError("%s %s answered 200 but not with a JSON object: %s"
                              % (method, self.client.url(path), _excerpt(resp.body.decode("utf-8", "replace"), 200)))
        return data

    def _chat_body(self, **extra):
        body = {"model": self.model, "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": self.max_tokens, "temperature": 0}
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
                raise VerifyError("POST %s with stream=true answered Content-Type %r, not text/event-stream"
                                  % (self.client.url(path), ctype))
            events = []
            try:
                for event, data in iter_sse(resp):
                    events.append((self.clock() - start, event, data))
            except (OSError, http.client.HTTPException) as exc:
                raise VerifyError("the stream from POST %s broke off after %d events: %s (request_timeout %g s)"
                                  % (self.client.url(path), len(events), describe_unreachable(exc),
                                     self.client.request_timeout))
            return events
        finally:
            resp.close()

    # -- checks
    def health(self):
        r = self.readiness
        return "GET /health answered 200 after %.1f s of waiting (%d polls)" % (r["ready_after_s"], r["polls"])

    def models(self):
        data = self._json_ok("GET", "/v1/models")
        ids = [m.get("id") for m in data.get("data") or [] if isinstance(m, dict)]
        if self.model not in ids:
            raise VerifyError("/v1/models lists %r but served_model_name is %r: the server serves another model; "
                              "check serve_served_model_name or the base_url" % (ids, self.model), models=ids)
        return "/v1/models lists %r" % ids

    def chat(self):
        data = self._json_ok("POST", "/v1/chat/completions", self._chat_body())
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            raise VerifyError("the chat completion has no choices: %s" % _excerpt(json.dumps(data), 200))
        message = choices[0].get("message") or {}
        content = message.get("content") or ""
        reasoning = _reasoning_of(message)
        finish = choices[0].get("finish_reason")
        usage = data.get("usage")
        if not isinstance(usage, dict):
            raise VerifyError("the chat completion has no usage object (prompt_tokens, completion_tokens)")
        prompt_t, completion_t = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if not (isinstance(prompt_t, int) and prompt_t > 0 and isinstance(completion_t, int) and completion_t > 0):
            raise VerifyError("the chat completion's usage is %r: prompt_tokens and completion_tokens must be > 0" % usage)
        if not content:
            if reasoning and finish == "length":
                return ("%d prompt + %d completion tokens, all %d spent on reasoning (finish_reason length; raise "
                        "max_tokens to see content)" % (prompt_t, completion_t, self.max_tokens))
            raise VerifyError("the chat completion has no content (finish_reason %s, usage %r)" % (finish, usage))
        return "%d prompt + %d completion tokens, finish_reason %s, content %r" % (
            prompt_t, completion_t, finish, _excerpt(content))

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
                    % (self.client.url(path), label, mask_secret(key)))
            if resp.status not in (401, 403):
                raise VerifyError("GET %s %s answered %d (%s); expected 401 Unauthorized"
                                  % (self.client.url(path), label, resp.status, resp.error_text()))
            results.append("%s: %d" % (label, resp.status))
        resp = self.client.request("GET", path)
        if resp.status != 200:
            raise VerifyError(self.http_problem("GET", path, resp))
        results.append("with the key given (%s): 200" % mask_secret(key))
        return "GET /v1/models " + "; ".join(results)

    def tools(self):
        tool = {"type": "function", "function": {
            "name": "get_weather", "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                           "required": ["city"]}}}
        body = self._chat_body(tools=[tool], tool_choice="auto", max_tokens=max(self.max_tokens, TOOLS_MIN_TOKENS))
        body["messages"] = [{"role": "user", "content": "What is the weather in Paris right now? Use the get_weather tool."}]
        resp = self.client.request("POST", "/v1/chat/completions", body)
        if resp.status == 400 and "tool" in resp.error_text().lower():
            raise VerifyError("the server refuses tool calls: %s. Start vLLM with --enable-auto-tool-choice "
                              "--tool-call-parser NAME (the seed uses deepseek_v4), SGLang with --tool-call-parser NAME"
                              % resp.error_text())
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
                "--enable-auto-tool-choice on vLLM)" % (choice.get("finish_reason"), _excerpt(message.get("content"))))
        fn = (calls[0] or {}).get("function") or {}
        if fn.get("name") != "get_weather":
            raise VerifyError("the tool call names %r, not the only tool offered, 'get_weather'" % fn.get("name"))
        try:
            args = json.loads(fn.get("arguments") or "")
        except ValueError:
            raise VerifyError("the tool call's arguments are not JSON: %r" % _excerpt(fn.get("arguments"), 200))
        if not isinstance(args, dict):
            raise VerifyError("the tool call's arguments are %r, not a JSON object" % (args,))
        return "tool_calls[0]: get_weather(%s), finish_reason %s" % (json.dumps(args), choice.get("finish_reason"))

    def reasoning(self):
        # DeepSeek's chat templates read "thinking", Qwen's "enable_thinking"; templates ignore the other.
        body = self._chat_body(chat_template_kwargs={"thinking": True, "enable_thinking": True})
        data = self._json_ok("POST", "/v1/chat/completions", body)
        message = ((data.get("choices") or [{}])[0] or {}).get("message") or {}
        reasoning = _reasoning_of(message)
        if not reasoning:
            raise VerifyError(
                "no reasoning_content in the reply to a request that asked to think (chat_template_kwargs thinking): "
                "start the server with a reasoning parser (vLLM --reasoning-parser NAME, the seed uses deepseek_v4; "
                "SGLang --reasoning-parser NAME); content was %r" % _excerpt(message.get("content")))
        return "reasoning_content %r, content %r" % (_excerpt(reasoning, 40), _excerpt(message.get("content"), 40))

    def anthropic(self):
        # What Claude Code sends with the settings the verify role prints: ANTHROPIC_AUTH_TOKEN ->
        # Authorization: Bearer (the header vLLM and SGLang check); without a key, the seed's
        # ANTHROPIC_API_KEY="dummy" -> x-api-key.
        headers = {"anthropic-version": ANTHROPIC_VERSION, "Accept": "text/event-stream"}
        if not self.client.api_key:
            headers["x-api-key"] = "dummy"
        body = {"model": self.model, "max_tokens": self.max_tokens, "stream": True,
                "messages": [{"role": "user", "content": PROMPT}]}
        try:
            events = self._stream_events("/v1/messages", body, headers=headers)
        except VerifyError as exc:
            if " answered 404" in exc.msg and "model" not in exc.msg.lower():
                raise VerifyError("%s: this server does not serve the Anthropic-style /v1/messages endpoint that "
                                  "Claude Code uses (ANTHROPIC_BASE_URL); use an engine image that has it, or drop "
                                  "the anthropic check" % exc.msg)
            raise
        return judge_anthropic_stream(summarize_anthropic_stream(events))


# ---- everything --------------------------------------------------------------------------------

def verify(params, run_command=None, bin_path=None, clock=time.monotonic, sleep=time.sleep):
    """Wait for readiness, run the checks, return the module result (without ``changed``).

    ``run_command(argv) -> (rc, stdout, stderr)`` and ``bin_path(name) -> path or None`` come from
    the module (AnsibleModule.run_command / get_bin_path); only the unit/container watches use them.
    Raises VerifyError (with ``report`` in its details once checks ran) at the first broken check.
    """
    api_key = params.get("api_key") or None
    base_url, warnings = normalize_base_url(params["base_url"])
    checks = resolve_checks(params.get("checks"), api_key)
    for name in ("timeout", "request_timeout", "poll_interval", "max_tokens"):
        value = params.get(name)
        if value is None or value <= 0:
            raise VerifyError("%s must be greater than 0, got %r" % (name, value))
    if params.get("unhealthy_grace") is None or params["unhealthy_grace"] < 0:
        raise VerifyError("unhealthy_grace must be 0 or more seconds, got %r" % params.get("unhealthy_grace"))
    served = params["served_model_name"]
    if not served or not str(served).strip():
        raise VerifyError("served_model_name is empty: give the name the server serves (the plan's served_model_name, "
                          "for example 'deepseek')")

    watches = []
    if params.get("unit"):
        systemctl, journalctl = bin_path("systemctl"), bin_path("journalctl")
        if not systemctl or not journalctl:
            raise VerifyError("unit=%r but this host has no systemctl/journalctl: run the module on the host that runs "
                              "the unit (not delegated elsewhere), or leave unit out" % params["unit"])
        watches.append(UnitWatch(params["unit"], run_command, systemctl, journalctl, secret=api_key))
    if params.get("container"):
        cli_name = params.get("container_cli") or "docker"
        cli = bin_path(cli_name)
        if not cli:
            raise VerifyError("container=%r but %s is not on this host's PATH: run the module on the host that runs the "
                              "container, set container_cli, or leave container out" % (params["container"], cli_name))
        watches.append(ContainerWatch(params["container"], run_command, cli, secret=api_key))

    client = Client(base_url, api_key, float(params["request_timeout"]), params.get("validate_certs", True),
                    params.get("use_proxy", False), clock=clock)
    runner = Checks(client, served, int(params["max_tokens"]), clock=clock)

    common = {"base_url": base_url, "served_model_name": served, "checks": checks, "warnings": warnings,
              "api_key_masked": mask_secret(api_key) or None}
    waiting_since = clock()
    try:
        readiness = wait_ready(client, float(params["timeout"]), float(params["poll_interval"]),
                               float(params["unhealthy_grace"]), watches, clock=clock, sleep=sleep,
                               key_hint=runner.http_problem)
    except VerifyError as exc:
        exc.details.update(common, report=[], ready_after_s=None, failed_check="readiness",
                           failed_at=time.time())
        exc.details.setdefault("waited_s", round(clock() - waiting_since, 3))
        raise
    runner.readiness = readiness

    report = []
    for name in checks:
        started = clock()
        if name == "health":
            report.append(report_entry(name, True, readiness["latency_s"], runner.health()))
            continue
        try:
            detail = getattr(runner, name)()
        except (VerifyError, Unreachable) as exc:
            why = exc.msg if isinstance(exc, VerifyError) else "no answer: %s" % exc
            why = scrub(why, api_key)
            report.append(report_entry(name, False, clock() - started, why))
            details = dict(getattr(exc, "details", {}) or {})
            details.update(common, report=report, ready_after_s=round(readiness["ready_after_s"], 3),
                           ready_at=readiness["ready_at"], failed_check=name)
            raise VerifyError("%s check failed: %s" % (name, why), **details)
        report.append(report_entry(name, True, clock() - started, scrub(detail, api_key)))

    result = dict(common)
    result.update(report=report, ready_after_s=round(readiness["ready_after_s"], 3), ready_at=readiness["ready_at"],
                  polls=readiness["polls"], passed=True, msg="%s at %s" % (summarize_report(report, readiness["ready_after_s"]), base_url))
    return result
