# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's request/response HTTP client (standard library only: it runs on GPU hosts).

:class:`Client` sends JSON requests to one server with its API key (or, to prove a key is needed,
without it or with another); :class:`Response` holds the answer and the server's own error text;
:class:`Unreachable` is "no HTTP answer", with :func:`describe_unreachable` saying why in words.
Used by openai_verify (the readiness wait and the contract checks) and by the benchmark's
preflight and server tokenizer. The benchmark's measured streams use the lean asyncio transport
in ``_bench_raw`` instead: they need each byte's arrival time, not a request/response API.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request


def excerpt(text, limit=60):
    """``text`` on one line, cut to ``limit`` characters with "..." (for messages)."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        return excerpt(text, 300) or "(empty body)"


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

    def __init__(
        self,
        base_url,
        api_key=None,
        request_timeout=300.0,
        validate_certs=True,
        use_proxy=False,
        clock=time.monotonic,
        user_agent="llmfleet.serving.openai_verify",
    ):
        self.base_url = base_url
        self.user_agent = user_agent
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
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
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
            raise Unreachable(describe_unreachable(exc)) from exc
        except http.client.HTTPException as exc:  # BadStatusLine and friends: something answered, not HTTP
            raise Unreachable(
                "the connection closed without a valid HTTP answer (%s)" % exc.__class__.__name__
            ) from exc

    def request(self, method, path, body=None, key="default", headers=None, timeout=None):
        """The whole answer as a :class:`Response`."""
        status, resp, start = self.open(method, path, body, key, headers, timeout)
        try:
            payload = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable("the answer broke off (%s)" % describe_unreachable(exc)) from exc
        finally:
            resp.close()
        return Response(status, resp.headers, payload, self.clock() - start)
