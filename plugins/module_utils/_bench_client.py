# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load generator with ``vllm bench serve``'s workload and metrics: ``run_benchmark(config) -> result``.

Runs on the controller (or a load-generator host) and needs ``aiohttp`` there; ``uvloop`` is used
when installed. Importing this file needs neither, so module_utils stay importable everywhere.

Entry point
-----------
``run_benchmark(config)`` takes a dict whose keys mirror ``vllm bench serve`` flags and returns the
result dict of ``vllm bench serve --save-result`` (same field names) plus ``result["llmfleet"]``
with our additions. It raises ``BenchmarkError`` with a message naming the option for bad input,
an unreachable endpoint, a refused key, an unknown model, and for a run where no request succeeded.

config keys (defaults are vLLM's unless noted):

=======================  ====================  ======================================================
key                      default               meaning (vllm flag)
=======================  ====================  ======================================================
base_url                 required              server root, e.g. http://10.0.0.5:8000 (--base-url)
endpoint                 /v1/chat/completions  (--endpoint); only chat completions is supported
served_model_name        required              name sent as "model" (--served-model-name);
                                               ``model`` is accepted as an alias
model_id                 served_model_name     recorded as model_id (--model)
tokenizer_id             model_id              recorded as tokenizer_id (--tokenizer)
api_key                  None                  Bearer token (vLLM reads OPENAI_API_KEY); never logged
dataset_name             random                only "random"
random_input_len         1024                  prompt tokens (--random-input-len)
random_output_len        128                   max_completion_tokens (--random-output-len)
random_range_ratio       0.0                   length spread in [0, 1) (--random-range-ratio)
num_prompts              1000                  measured requests (--num-prompts)
max_concurrency          None                  closed-loop limit (--max-concurrency), None = unlimited
request_rate             inf                   requests/s (--request-rate), float or "inf"
burstiness               1.0                   gamma shape of arrival gaps (--burstiness)
seed                     0                     dataset and arrival seed (--seed)
num_warmups              0                     warm-up requests, excluded (--num-warmups); they use
                                               their own prompts, so they warm nothing a measured
                                               request reuses
ignore_eos               True                  sent as ignore_eos (vLLM forces it for random)
temperature              None                  only sent when set (--temperature)
extra_body               None                  merged into every request body (--extra-body)
headers                  None                  extra request headers (--header)
percentile_metrics       ttft,tpot,itl,e2el    metrics with statistics (--percentile-metrics; vLLM's
                                               default leaves out e2el)
metric_percentiles       [50, 90, 99]          (--metric-percentiles; vLLM's default is 99)
goodput                  {}                    SLOs in ms, keys ttft/tpot/e2el (--goodput)
save_detailed            False                 keep per-request arrays (--save-detailed)
save_generated_texts     False                 collect the generated text (ours; costs CPU)
label                    None                  (--label)
request_id_prefix        llmfleet-bench-XXXX-  x-request-id prefix (--request-id-prefix)
-----------------------  --------------------  ------------------------------------------------------
request_timeout          3600                  seconds per request before it counts as failed
stream_idle_timeout      None                  seconds without a byte before a stream counts as stalled
workers                  1                     load-generator processes (prompts shared through one
                                               queue, so the global order and concurrency hold)
use_server_tokenizer     auto                  auto | always | never: exact prompt lengths through
                                               the server's /tokenize + /detokenize
vocab_size               None                  draw prompt ids from range(vocab_size) instead of a
                                               pool harvested from the server's tokenizer
continuous_usage_stats   False                 ask for usage in every chunk (exact tokens per chunk
                                               for the token-weighted ITL; changes the request body)
skip_role_chunk          False                 True: the opening role-only chunk is not a choices
                                               message (released vLLM >= 0.3x); False: REFERENCE's
                                               rule, any non-empty choices message counts (TTFT
                                               and ITL of vLLM main before that change)
max_template_overhead    64                    chat-template tokens allowed on top of the prompt
http_client              raw                   raw: a lean HTTP/1.1 client on asyncio (one keep-alive
                                               connection per slot, bytes timestamped as they arrive);
                                               aiohttp: vLLM's client library (proxies, odd servers)
read_bufsize             1048576               aiohttp read buffer per response
progress                 None                  callable(dict(stage, done, total, elapsed_s)), called
                                               at most about once a second
lag_threshold_ms         5.0                   event-loop lag p99 above which the run is flagged
cpu_threshold_pct        85.0                  load-generator CPU above which the run is flagged
=======================  ====================  ======================================================

Timing
------
Times are ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux, one clock for all processes of the
host, so records of several worker processes share a time base). A request's start is taken just
before it is sent; its arrival (when it became due) is recorded separately, so the wait for a
concurrency slot is the client queue time and is excluded from TTFT and E2EL, as in vLLM.
Each network read is timestamped once, before its SSE messages are parsed: by default in the
``data_received`` callback of a lean HTTP/1.1 client (``http_client: raw``; one keep-alive connection
per concurrency slot, chunked framing undone in place, vLLM-shaped token chunks measured without
JSON decoding); ``http_client: aiohttp`` uses vLLM's client library instead. Preflight and the
tokenizer calls always use aiohttp.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import time
import uuid

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError
from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_dataset as dataset_mod
from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_metrics as metrics_mod

try:
    import aiohttp
    HAS_AIOHTTP = True
except ImportError:  # the module_utils must import where aiohttp is absent (GPU hosts)
    aiohttp = None
    HAS_AIOHTTP = False

try:
    import uvloop
    HAS_UVLOOP = True
except ImportError:
    uvloop = None
    HAS_UVLOOP = False

perf_counter = time.perf_counter

DEFAULTS = {
    "base_url": None,
    "endpoint": "/v1/chat/completions",
    "served_model_name": None,
    "model_id": None,
    "tokenizer_id": None,
    "api_key": None,
    "backend": "openai-chat",
    "dataset_name": "random",
    "random_input_len": 1024,
    "random_output_len": 128,
    "random_range_ratio": 0.0,
    "num_prompts": 1000,
    "max_concurrency": None,
    "request_rate": float("inf"),
    "burstiness": 1.0,
    "seed": 0,
    "num_warmups": 0,
    "ignore_eos": True,
    "temperature": None,
    "extra_body": None,
    "headers": None,
    "percentile_metrics": list(metrics_mod.DEFAULT_PERCENTILE_METRICS),
    "metric_percentiles": list(metrics_mod.DEFAULT_METRIC_PERCENTILES),
    "goodput": None,
    "save_detailed": False,
    "save_generated_texts": False,
    "label": None,
    "request_id_prefix": None,
    "request_timeout": 3600.0,
    "stream_idle_timeout": None,
    "workers": 1,
    "use_server_tokenizer": "auto",
    "vocab_size": None,
    "continuous_usage_stats": False,
    "skip_role_chunk": False,
    "http_client": "raw",
    "max_template_overhead": 64,
    "prompt_tolerance_pct": 5.0,
    "read_bufsize": 1 << 20,
    "progress": None,
    "lag_threshold_ms": 5.0,
    "cpu_threshold_pct": 85.0,
    "use_uvloop": True,
    "trust_env": False,
}
_ALIASES = {"model": "served_model_name", "tokenizer": "tokenizer_id"}
_INT_OPTIONS = ("random_input_len", "random_output_len", "num_prompts", "num_warmups", "seed", "workers")
_PROGRESS_INTERVAL = 1.0
_MIN_CPU_WINDOW_S = 1.0


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _as_float(value):
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity"):
        return float("inf")
    return float(value)


def _split_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def normalize_config(config):
    """Defaults filled in and every value checked; raises ``BenchmarkError`` naming each bad option."""
    cfg = dict(DEFAULTS)
    unknown = []
    for key, value in (config or {}).items():
        key = _ALIASES.get(key, key)
        if key not in DEFAULTS:
            unknown.append(key)
            continue
        if value is not None or key in ("max_concurrency",):
            cfg[key] = value
    errors = []
    if unknown:
        errors.append("unknown option(s) %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(sorted(DEFAULTS))))

    base = cfg["base_url"]
    if not base or not isinstance(base, str) or not base.startswith(("http://", "https://")):
        errors.append("base_url must be the server's root URL such as http://10.0.0.5:8000, got %r" % (base,))
    else:
        cfg["base_url"] = base.rstrip("/")
        if cfg["base_url"].endswith("/v1"):
            errors.append("base_url must not end with /v1 (the endpoint adds it), got %r" % (base,))
    if not isinstance(cfg["endpoint"], str) or not cfg["endpoint"].startswith("/"):
        errors.append("endpoint must be a path starting with '/', got %r" % (cfg["endpoint"],))
    elif not cfg["endpoint"].rstrip("/").endswith("chat/completions"):
        errors.append("endpoint must be a chat completions path such as /v1/chat/completions (backend openai-chat), "
                      "got %r" % (cfg["endpoint"],))
    if not cfg["served_model_name"] or not isinstance(cfg["served_model_name"], str):
        errors.append("served_model_name (the model name the server serves, its --served-model-name) is required")
    if cfg["dataset_name"] != "random":
        errors.append("dataset_name must be 'random' (the only dataset this client generates), got %r"
                      % (cfg["dataset_name"],))
    if cfg["backend"] not in ("openai-chat", "vllm-chat", "openai"):
        errors.append("backend must be openai-chat, got %r" % (cfg["backend"],))

    minimums = {"random_input_len": 1, "random_output_len": 1, "num_prompts": 1, "num_warmups": 0,
                "workers": 1, "seed": None}
    for key in _INT_OPTIONS:
        value = cfg[key]
        if not _is_int(value):
            try:
                if isinstance(value, (str, float)) and float(value) == int(float(value)):
                    value = int(float(value))
                else:
                    raise ValueError
            except (TypeError, ValueError):
                errors.append("%s must be an integer, got %r" % (key, cfg[key]))
                continue
            cfg[key] = value
        low = minimums[key]
        if low is not None and value < low:
            errors.append("%s must be at least %d, got %d" % (key, low, value))

    mc = cfg["max_concurrency"]
    if mc is not None:
        if not _is_int(mc) or mc < 1:
            errors.append("max_concurrency must be an integer of at least 1 (or omitted for no limit), got %r" % (mc,))
    for key, low, inclusive_low, high in (("random_range_ratio", 0.0, True, 1.0),):
        try:
            value = _as_float(cfg[key])
            if not (value >= low if inclusive_low else value > low) or value >= high:
                raise ValueError
            cfg[key] = value
        except (TypeError, ValueError):
            errors.append("%s must be a number in [0, 1) (0 = fixed lengths), got %r" % (key, cfg[key]))
    try:
        rate = _as_float(cfg["request_rate"])
        if math.isnan(rate) or rate <= 0:
            raise ValueError
        cfg["request_rate"] = rate
    except (TypeError, ValueError):
        errors.append("request_rate must be a positive number of requests per second or 'inf', got %r"
                      % (cfg["request_rate"],))
    try:
        burst = _as_float(cfg["burstiness"])
        if math.isnan(burst) or burst <= 0:
            raise ValueError
        cfg["burstiness"] = burst
    except (TypeError, ValueError):
        errors.append("burstiness must be a positive number (1 = Poisson arrivals), got %r" % (cfg["burstiness"],))
    for key in ("request_timeout", "stream_idle_timeout"):
        if cfg[key] is None and key == "stream_idle_timeout":
            continue
        try:
            value = _as_float(cfg[key])
            if math.isnan(value) or math.isinf(value) or value <= 0:
                raise ValueError
            cfg[key] = value
        except (TypeError, ValueError):
            errors.append("%s must be a positive number of seconds, got %r" % (key, cfg[key]))

    metrics = _split_list(cfg["percentile_metrics"])
    bad = [m for m in metrics if m not in ("ttft", "tpot", "itl", "e2el")]
    if bad or not metrics:
        errors.append("percentile_metrics must be a list drawn from ttft, tpot, itl, e2el, got %r"
                      % (cfg["percentile_metrics"],))
    cfg["percentile_metrics"] = metrics
    try:
        pcts = [_as_float(p) for p in _split_list(cfg["metric_percentiles"])]
        if not pcts or any(not 0 <= p <= 100 for p in pcts):
            raise ValueError
        cfg["metric_percentiles"] = pcts
    except (TypeError, ValueError):
        errors.append("metric_percentiles must be a list of numbers between 0 and 100, got %r"
                      % (cfg["metric_percentiles"],))
    goodput = cfg["goodput"] or {}
    if isinstance(goodput, (list, tuple)):  # vLLM's "ttft:500" pairs
        try:
            goodput = dict((k.strip(), float(v)) for k, v in (item.split(":", 1) for item in goodput))
        except ValueError:
            errors.append("goodput pairs must look like 'ttft:500', got %r" % (cfg["goodput"],))
            goodput = {}
    if not isinstance(goodput, dict):
        errors.append("goodput must be a dict of SLOs in ms with keys ttft, tpot, e2el, got %r" % (goodput,))
        goodput = {}
    clean = {}
    for key, value in goodput.items():
        if value is None:
            continue
        if key not in metrics_mod.GOODPUT_METRICS:
            errors.append("goodput key %r is not one of ttft, tpot, e2el" % (key,))
            continue
        try:
            value = _as_float(value)
            if value < 0:
                raise ValueError
            clean[key] = value
        except (TypeError, ValueError):
            errors.append("goodput.%s must be a non-negative number of milliseconds, got %r" % (key, value))
    cfg["goodput"] = clean
    if cfg["http_client"] not in ("raw", "aiohttp"):
        errors.append("http_client must be raw or aiohttp, got %r" % (cfg["http_client"],))
    if cfg["use_server_tokenizer"] not in ("auto", "always", "never"):
        errors.append("use_server_tokenizer must be auto, always or never, got %r" % (cfg["use_server_tokenizer"],))
    if cfg["vocab_size"] is not None and (not _is_int(cfg["vocab_size"]) or cfg["vocab_size"] < 2):
        errors.append("vocab_size must be an integer of at least 2, got %r" % (cfg["vocab_size"],))
    if cfg["progress"] is not None and not callable(cfg["progress"]):
        errors.append("progress must be a callable, got %r" % (cfg["progress"],))
    for key in ("extra_body", "headers"):
        if cfg[key] is not None and not isinstance(cfg[key], dict):
            errors.append("%s must be a dict, got %r" % (key, cfg[key]))
    if cfg["temperature"] is not None:
        try:
            cfg["temperature"] = _as_float(cfg["temperature"])
        except (TypeError, ValueError):
            errors.append("temperature must be a number, got %r" % (cfg["temperature"],))
    if errors:
        raise BenchmarkError("Invalid benchmark parameters: " + "; ".join(errors))

    cfg["model_id"] = cfg["model_id"] or cfg["served_model_name"]
    cfg["tokenizer_id"] = cfg["tokenizer_id"] or cfg["model_id"]
    if not cfg["request_id_prefix"]:
        cfg["request_id_prefix"] = "llmfleet-bench-%s-" % uuid.uuid4().hex[:8]
    return cfg


# ---------------------------------------------------------------------------------------------
# event loop and HTTP helpers
# ---------------------------------------------------------------------------------------------


def _run_loop(coro, use_uvloop=True):
    """Run ``coro`` on a fresh event loop (uvloop when available) and close the loop."""
    loop = uvloop.new_event_loop() if (use_uvloop and HAS_UVLOOP) else asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _auth_headers(cfg):
    headers = {}
    if cfg["api_key"]:
        headers["Authorization"] = "Bearer %s" % cfg["api_key"]
    return headers


def _session(cfg, limit):
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300,
                                     keepalive_timeout=60, force_close=False)
    timeout = aiohttp.ClientTimeout(total=cfg["request_timeout"], sock_read=cfg["stream_idle_timeout"])
    return aiohttp.ClientSession(connector=connector, timeout=timeout, read_bufsize=cfg["read_bufsize"],
                                 trust_env=cfg["trust_env"])


def _describe_exception(exc, cfg, what):
    if isinstance(exc, asyncio.TimeoutError):
        return "%s timed out" % what
    if HAS_AIOHTTP and isinstance(exc, aiohttp.ClientConnectorError):
        return "cannot connect to %s: %s" % (cfg["base_url"], exc.os_error or exc)
    return "%s failed: %s: %s" % (what, type(exc).__name__, exc)


async def _preflight(session, cfg):
    """The server answers, takes our key and serves our model; a clear message otherwise."""
    url = cfg["base_url"] + "/v1/models"
    try:
        async with session.get(url, headers=_auth_headers(cfg), timeout=aiohttp.ClientTimeout(total=30)) as resp:
            status = resp.status
            body = await resp.text()
    except Exception as exc:  # noqa: BLE001 - every cause becomes one actionable message
        if HAS_AIOHTTP and isinstance(exc, aiohttp.InvalidURL):
            raise BenchmarkError("base_url %r is not a valid URL" % cfg["base_url"])
        if HAS_AIOHTTP and isinstance(exc, aiohttp.ClientConnectorError):
            raise BenchmarkError(
                "Cannot reach the server at base_url %s (%s). Is it running, listening on that address and "
                "port, and reachable from this host?" % (cfg["base_url"], exc.os_error or exc))
        if isinstance(exc, asyncio.TimeoutError):
            raise BenchmarkError("The server at base_url %s did not answer GET /v1/models within 30 s." % cfg["base_url"])
        raise BenchmarkError("GET %s failed: %s: %s" % (url, type(exc).__name__, exc))
    if status in (401, 403):
        if cfg["api_key"]:
            raise BenchmarkError(
                "The server at %s refused api_key (HTTP %d on /v1/models): set api_key to the key the server "
                "was started with (--api-key / VLLM_API_KEY)." % (cfg["base_url"], status))
        raise BenchmarkError(
            "The server at %s needs an API key (HTTP %d on /v1/models): set api_key." % (cfg["base_url"], status))
    if status == 404:
        return None  # no model list on this server: requests will tell
    if status != 200:
        raise BenchmarkError("GET %s answered HTTP %d: %s. Is the server ready (its /health)?"
                             % (url, status, body[:300]))
    try:
        served = [m.get("id") for m in json.loads(body).get("data", [])]
    except (ValueError, AttributeError):
        raise BenchmarkError("GET %s did not return an OpenAI model list: %s" % (url, body[:300]))
    if cfg["served_model_name"] not in served:
        raise BenchmarkError(
            "served_model_name %r is not served at %s; the server serves %s. Set served_model_name to one of "
            "them (the server's --served-model-name)." % (cfg["served_model_name"], cfg["base_url"], served))
    return served


class ServerTokenizer(object):
    """The server's ``/tokenize`` and ``/detokenize`` (vLLM's shape), batched with bounded parallelism."""

    def __init__(self, session, cfg, parallel=16):
        self.session = session
        self.cfg = cfg
        self.headers = _auth_headers(cfg)
        self.sem = asyncio.Semaphore(parallel)

    async def _post(self, path, payload):
        url = self.cfg["base_url"] + path
        async with self.sem:
            async with self.session.post(url, json=payload, headers=self.headers) as resp:
                if resp.status != 200:
                    raise BenchmarkError("POST %s answered HTTP %d while building prompts: %s"
                                         % (url, resp.status, (await resp.text())[:300]))
                return await resp.json(content_type=None)

    async def probe(self):
        """True when the server tokenizes; False when it has no /tokenize."""
        url = self.cfg["base_url"] + "/tokenize"
        payload = {"model": self.cfg["served_model_name"], "prompt": "hello world", "add_special_tokens": False}
        try:
            async with self.session.post(url, json=payload, headers=self.headers,
                                         timeout=aiohttp.ClientTimeout(total=30)) as resp:
                if resp.status != 200:
                    return False
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return False
        return isinstance(data, dict) and isinstance(data.get("tokens"), list) and len(data["tokens"]) > 0

    async def encode_batch(self, texts):
        model = self.cfg["served_model_name"]

        async def one(text):
            data = await self._post("/tokenize", {"model": model, "prompt": text, "add_special_tokens": False})
            return data["tokens"]
        return await asyncio.gather(*[one(t) for t in texts])

    async def decode_batch(self, id_lists):
        model = self.cfg["served_model_name"]

        async def one(ids):
            data = await self._post("/detokenize", {"model": model, "tokens": ids})
            return data["prompt"]
        return await asyncio.gather(*[one(i) for i in id_lists])


# ---------------------------------------------------------------------------------------------
# one request
# ---------------------------------------------------------------------------------------------


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


class _Parser(object):
    """Lean SSE handling for one response: bytes split on blank lines, JSON only per data message."""

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
        if self.buf:
            data = self.buf + data
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        events = data.split(b"\n\n")
        self.buf = events.pop()
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
            lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line[:5] == b"data:"]
            if not lines:
                return  # comment (keep-alive) or a field we do not use
            payload = b"\n".join(lines)
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
    return (b'"finish_reason":null' in payload and b'"choices":[{' in payload and b'"usage"' not in payload
            and b'"role"' not in payload and b'"tool_calls"' not in payload and b'"function_call"' not in payload
            and b'"error"' not in payload and b'},{"index"' not in payload)


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
    if delta.get("content") or delta.get("reasoning") or delta.get("reasoning_content") or delta.get("tool_calls") \
            or delta.get("function_call"):
        return False
    return not (delta.get("content") == "" and "role" not in delta)


async def send_request(session, url, body, headers, rec, want_text=False, timeout_s=None, skip_role=False):
    """One streamed chat request; fills ``rec`` with vLLM's per-request measurements."""
    rec.start_time = st = perf_counter()
    parser = _Parser(rec, st, want_text, skip_role)
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
        rec.error = ("request timed out after %s s (request_timeout / stream_idle_timeout): the stream stalled or "
                     "the server is too slow" % (timeout_s if timeout_s is not None else "?"))
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


# ---------------------------------------------------------------------------------------------
# lean HTTP/1.1 streaming (http_client "raw"): one keep-alive connection per concurrency slot
# ---------------------------------------------------------------------------------------------


class _RawStream(asyncio.Protocol):
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
        self.mode = None          # "chunked" | "length" | "close"
        self.remaining = 0        # bytes left in the current chunk (chunked) or in the body (length)
        self.need_crlf = False    # a chunk's data ended; its CRLF is next
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
                self._fail("ServerDisconnectedError: the server closed the connection%s"
                           % ("" if self.got_bytes else " before answering"))

    def data_received(self, data):
        now = perf_counter()
        if self.waiter is None or self.waiter.done():
            return  # bytes after a finished or abandoned request: ignore
        self.got_bytes = True
        if self.idle_s:
            self._arm_idle()
        if self.mode == "chunked" and not self.buf and not self.remaining and not self.need_crlf \
                and self.error_body is None:
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
                feed(data[eol + 2:end], now)
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
            data = self.head[end + 4:]
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
        self.idle = asyncio.get_running_loop().call_later(self.idle_s, self._timeout, self.idle_s,
                                                          "stream_idle_timeout")

    def _timeout(self, seconds, option):
        if self.waiter is not None and not self.waiter.done():
            self._fail("request timed out after %s s (%s): the stream stalled or the server is too slow"
                       % (seconds, option))
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
            take = data[:self.remaining]
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
                out.append(buf[pos:pos + take])
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
                end = buf.find(b"\r\n\r\n", eol) if buf[eol + 2:eol + 4] != b"\r\n" else eol
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


class _RawTarget(object):
    """Where and how the raw client connects, and the request head without its per-request fields."""

    def __init__(self, cfg):
        from urllib.parse import urlsplit

        url = urlsplit(cfg["base_url"] + cfg["endpoint"])
        self.host = url.hostname
        self.tls = url.scheme == "https"
        self.port = url.port or (443 if self.tls else 80)
        self.path = (url.path or "/") + ("?" + url.query if url.query else "")
        headers = [("Host", url.netloc), ("Content-Type", "application/json"), ("Accept", "*/*"),
                   ("User-Agent", "llmfleet-bench")]
        headers += sorted(_auth_headers(cfg).items()) + sorted((cfg["headers"] or {}).items())
        self.head = ("POST %s HTTP/1.1\r\n" % self.path + "".join("%s: %s\r\n" % kv for kv in headers)).encode("latin-1")

    def request_bytes(self, request_id, body):
        return self.head + b"Content-Length: %d\r\nx-request-id: %s\r\n\r\n" % (len(body), request_id.encode("latin-1"))

    async def connect(self):
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_connection(_RawStream, self.host, self.port, ssl=True if self.tls else None)
        return proto


async def send_request_raw(target, conn, request_id, body, rec, want_text, timeout_s, idle_s, skip_role):
    """One streamed chat request over ``conn`` (a reusable ``_RawStream`` or None); returns the
    connection to reuse, or None when it cannot be reused."""
    rec.start_time = st = perf_counter()
    parser = _Parser(rec, st, want_text, skip_role)
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


# ---------------------------------------------------------------------------------------------
# the measured run (one process; several share the work through a counter)
# ---------------------------------------------------------------------------------------------


def arrival_offsets(num, rate, burstiness, seed):
    """vLLM's ``get_request`` schedule: gamma-distributed gaps (Poisson for burstiness 1), cumulated and
    rescaled so the last request is due at num / rate. None for an infinite rate (all due at once)."""
    if math.isinf(rate):
        return None
    rng = random.Random("arrivals:%s" % seed)
    delays = []
    for dummy in range(num):
        if math.isinf(burstiness):
            delays.append(1.0 / rate)
        else:
            theta = 1.0 / (rate * burstiness)
            delays.append(rng.gammavariate(burstiness, theta))
    for i in range(1, num):
        delays[i] += delays[i - 1]
    if delays and delays[-1] != 0:
        factor = (num / rate) / delays[-1]
        delays = [d * factor for d in delays]
    return delays


class _LocalCounter(object):
    def __init__(self, total):
        self.value = 0
        self.total = total

    def take(self):
        if self.value >= self.total:
            return None
        index = self.value
        self.value += 1
        return index


class _SharedCounter(object):
    """The next prompt index, shared by worker processes (a multiprocessing.Value)."""

    def __init__(self, value, total):
        self.shared = value
        self.total = total

    def take(self):
        with self.shared.get_lock():
            index = self.shared.value
            if index >= self.total:
                return None
            self.shared.value = index + 1
        return index


async def _lag_monitor(samples, stop, interval=0.01):
    """How late the event loop wakes up: a busy client shows here before it shows in latencies."""
    while not stop[0]:
        before = perf_counter()
        await asyncio.sleep(interval)
        samples.append(perf_counter() - before - interval)


async def drive(cfg, plan, counter, slots, t0, arrivals, on_done=None):
    """Send the planned requests with ``slots`` concurrent streams; return (records, self_check).

    ``plan[i]`` is ``(request_id, body, prompt_len, output_len)``; ``counter.take()`` hands out the next
    index (shared between processes); ``t0`` is the common start (perf_counter), ``arrivals`` the due
    offsets or None (all due at t0).
    """
    url = cfg["base_url"] + cfg["endpoint"]
    base_headers = dict(cfg["headers"] or {})
    base_headers.update(_auth_headers(cfg))
    base_headers["Content-Type"] = "application/json"
    want_text = bool(cfg["save_generated_texts"])
    skip_role = bool(cfg["skip_role_chunk"])
    timeout_s = cfg["request_timeout"]
    raw = cfg["http_client"] == "raw"
    target = _RawTarget(cfg) if raw else None
    idle_s = cfg["stream_idle_timeout"]
    records = []
    lag = []
    stop = [False]
    session = None if raw else _session(cfg, slots)
    try:
        wait = t0 - perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        monitor = asyncio.ensure_future(_lag_monitor(lag, stop))
        cpu0, wall0 = time.process_time(), perf_counter()

        async def slot():
            conn = None
            while True:
                index = counter.take()
                if index is None:
                    if conn is not None and not conn.closed:
                        conn.transport.close()
                    return
                request_id, body, prompt_len, output_len = plan[index]
                rec = metrics_mod.RequestRecord(index, request_id, prompt_len, output_len)
                due = t0 if arrivals is None else t0 + arrivals[index]
                now = perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                rec.arrival_time = due
                if raw:
                    conn = await send_request_raw(target, conn, request_id, body, rec, want_text, timeout_s, idle_s,
                                                  skip_role)
                else:
                    headers = dict(base_headers)
                    headers["x-request-id"] = request_id
                    await send_request(session, url, body, headers, rec, want_text, timeout_s, skip_role)
                records.append(rec)
                if on_done is not None:
                    on_done(rec)

        await asyncio.gather(*[slot() for dummy in range(slots)])
        wall = perf_counter() - wall0
        cpu = time.process_time() - cpu0
        stop[0] = True
        await monitor
    finally:
        if session is not None:
            await session.close()
    ordered = sorted(lag)
    check = {
        "pid": os.getpid(),
        "requests": len(records),
        "wall_s": wall,
        "cpu_percent": 100.0 * cpu / wall if wall > 0 else 0.0,
        "loop_lag_max_ms": (ordered[-1] * 1000.0) if ordered else 0.0,
        "loop_lag_p99_ms": metrics_mod.np_percentile_sorted(ordered, 99) * 1000.0,
        "loop_lag_samples": len(ordered),
    }
    return records, check


async def _run_in_process(cfg, plan, arrivals, progress):
    total = len(plan)
    counter = _LocalCounter(total)
    slots = min(cfg["max_concurrency"] or total, total)
    t0 = perf_counter() + 0.001
    state = {"done": 0, "last": perf_counter()}

    def on_done(_rec):
        state["done"] += 1
        now = perf_counter()
        if progress and (now - state["last"] >= _PROGRESS_INTERVAL or state["done"] == total):
            state["last"] = now
            _call_progress(progress, "run", state["done"], total, now - t0)

    records, check = await drive(cfg, plan, counter, slots, t0, arrivals, on_done)
    return records, [check], t0


def _call_progress(progress, stage, done, total, elapsed):
    try:
        progress({"stage": stage, "done": done, "total": total, "elapsed_s": elapsed})
    except Exception:  # noqa: BLE001 - a broken progress display must not break the measurement
        pass


def _worker_slots(cfg, total, workers):
    if cfg["max_concurrency"] is None:
        return [total] * workers  # unlimited: any worker may need to hold every request
    limit = min(cfg["max_concurrency"], total)
    base, extra = divmod(limit, workers)
    return [base + (1 if w < extra else 0) for w in range(workers)]


def _run_workers(cfg, plan, arrivals, progress):
    """Fork ``workers`` processes that share one prompt counter; merge their records."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # fork: the plan is inherited, and it works inside AnsiballZ
    total = len(plan)
    slots = [s for s in _worker_slots(cfg, total, cfg["workers"]) if s > 0]
    next_index = ctx.Value("q", 0)
    done = ctx.Value("q", 0)
    start = ctx.Event()
    t0_value = ctx.Value("d", 0.0)
    procs = []
    pipes = []
    gc.collect()
    for w, n_slots in enumerate(slots):
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker_main, name="llmfleet-bench-%d" % w,
                           args=(cfg, plan, next_index, done, start, t0_value, n_slots, arrivals, writer))
        proc.daemon = True
        proc.start()
        writer.close()
        procs.append(proc)
        pipes.append(reader)
    # every process is forked and waiting: set the common start a little ahead and go
    t0 = perf_counter() + 0.05
    t0_value.value = t0
    start.set()
    results = [None] * len(procs)
    last = perf_counter()
    try:
        waiting = set(range(len(procs)))
        while waiting:
            for w in list(waiting):
                if pipes[w].poll(0.2):
                    try:
                        results[w] = pipes[w].recv()
                    except EOFError:
                        results[w] = {"error": "worker %d exited without a result (exit code %s)"
                                      % (w, procs[w].exitcode)}
                    waiting.discard(w)
                elif not procs[w].is_alive() and not pipes[w].poll(0):
                    results[w] = {"error": "worker %d died (exit code %s)" % (w, procs[w].exitcode)}
                    waiting.discard(w)
            now = perf_counter()
            if progress and now - last >= _PROGRESS_INTERVAL:
                last = now
                _call_progress(progress, "run", done.value, total, now - t0)
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    records, checks = [], []
    for w, res in enumerate(results):
        if res.get("error"):
            raise BenchmarkError("Load-generator %s" % res["error"])
        records.extend(metrics_mod.RequestRecord.from_dict(d) for d in res["records"])
        res["check"]["worker"] = w
        checks.append(res["check"])
    if progress:
        _call_progress(progress, "run", done.value, total, perf_counter() - t0)
    return records, checks, t0


def _worker_main(cfg, plan, next_index, done, start, t0_value, n_slots, arrivals, writer):
    """Body of one forked load-generator process."""
    try:
        start.wait()
        counter = _SharedCounter(next_index, len(plan))

        def on_done(_rec):
            with done.get_lock():
                done.value += 1

        gc.freeze()  # the inherited plan is static: keep the collector off it
        records, check = _run_loop(drive(cfg, plan, counter, n_slots, t0_value.value, arrivals, on_done),
                                   cfg["use_uvloop"])
        writer.send({"records": [r.to_dict() for r in records], "check": check})
    except BaseException as exc:  # noqa: BLE001 - report to the parent instead of dying silently
        try:
            writer.send({"error": "worker failed: %s: %s" % (type(exc).__name__, exc)})
        except Exception:  # noqa: BLE001
            pass
    finally:
        writer.close()


# ---------------------------------------------------------------------------------------------
# preparation: preflight, dataset, warm-up
# ---------------------------------------------------------------------------------------------


async def _prepare(cfg, progress):
    session = _session(cfg, 64)
    try:
        await _preflight(session, cfg)
        tokenizer = None
        mode = cfg["use_server_tokenizer"]
        if mode != "never":
            candidate = ServerTokenizer(session, cfg)
            if await candidate.probe():
                tokenizer = candidate
            elif mode == "always":
                raise BenchmarkError(
                    "use_server_tokenizer is 'always' but %s/tokenize does not tokenize; use 'auto' to fall back to "
                    "word prompts counted by usage.prompt_tokens" % cfg["base_url"])
        t_start = perf_counter()
        if progress:
            _call_progress(progress, "dataset", 0, cfg["num_prompts"], 0.0)
        prompts, info = await dataset_mod.build_random_dataset(
            tokenizer, cfg["num_prompts"], cfg["random_input_len"], cfg["random_output_len"],
            cfg["random_range_ratio"], cfg["seed"], cfg["request_id_prefix"], cfg["vocab_size"], stream="prompt")
        warm = []
        if cfg["num_warmups"]:
            warm = (await dataset_mod.build_random_dataset(
                tokenizer, cfg["num_warmups"], cfg["random_input_len"], cfg["random_output_len"],
                cfg["random_range_ratio"], cfg["seed"], cfg["request_id_prefix"] + "warmup-", cfg["vocab_size"],
                stream="warmup"))[0]
        info["build_s"] = perf_counter() - t_start
        if progress:
            _call_progress(progress, "dataset", cfg["num_prompts"], cfg["num_prompts"], info["build_s"])
    finally:
        await session.close()
    warmup = {"requests": 0, "failed": 0, "errors": []}
    if warm:
        plan = [(p.request_id, request_body(cfg, p.prompt, p.output_len), p.prompt_len, p.output_len) for p in warm]
        slots = min(cfg["max_concurrency"] or len(plan), len(plan))
        records = (await drive(cfg, plan, _LocalCounter(len(plan)), slots, perf_counter(), None))[0]
        failed = [r for r in records if not r.success]
        warmup = {"requests": len(records), "failed": len(failed),
                  "errors": sorted(set(r.error.splitlines()[0][:200] for r in failed if r.error))[:5]}
        if progress:
            _call_progress(progress, "warmup", len(records), len(records), 0.0)
    return prompts, info, warmup


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------


def _self_check(cfg, checks):
    reasons = []
    for c in checks:
        name = "worker %s" % c.get("worker", 0)
        # below a second the CPU share is dominated by start-up work, not by keeping up with streams
        if c["cpu_percent"] >= cfg["cpu_threshold_pct"] and c.get("wall_s", 0) >= _MIN_CPU_WINDOW_S:
            reasons.append("%s used %.0f%% of a CPU core (threshold %.0f%%): the client may have delayed reads; "
                           "raise workers" % (name, c["cpu_percent"], cfg["cpu_threshold_pct"]))
        if c["loop_lag_p99_ms"] >= cfg["lag_threshold_ms"]:
            reasons.append("%s event loop ran %.1f ms late at p99 (threshold %.1f ms): latencies may include client "
                           "delay; raise workers" % (name, c["loop_lag_p99_ms"], cfg["lag_threshold_ms"]))
    return {
        "workers": len(checks),
        "event_loop": "uvloop" if (cfg["use_uvloop"] and HAS_UVLOOP) else "asyncio",
        "cpu_percent_max": max(c["cpu_percent"] for c in checks) if checks else 0.0,
        "loop_lag_max_ms": max(c["loop_lag_max_ms"] for c in checks) if checks else 0.0,
        "loop_lag_p99_ms": max(c["loop_lag_p99_ms"] for c in checks) if checks else 0.0,
        "per_worker": checks,
        "flagged": bool(reasons),
        "reasons": reasons,
        "thresholds": {"cpu_percent": cfg["cpu_threshold_pct"], "loop_lag_p99_ms": cfg["lag_threshold_ms"]},
    }


def build_result(cfg, records, t0, checks, dataset_info=None, warmup=None):
    """vLLM's result dict (settings, metrics, per-request arrays) plus ``llmfleet``."""
    records = sorted(records, key=lambda r: r.index)
    if records:
        first = min(r.start_time for r in records)
        last = max(r.end_time or (r.start_time + r.latency) for r in records)
        duration = max(last - min(first, t0), 1e-9)
    else:
        duration = 1e-9
    metrics, output_lens = metrics_mod.calculate_metrics(
        records, duration, cfg["metric_percentiles"], cfg["goodput"], cfg["percentile_metrics"])
    rate = cfg["request_rate"]
    result = {
        "date": time.strftime("%Y%m%d-%H%M%S"),
        "endpoint_type": cfg["backend"],
        "backend": cfg["backend"],
        "label": cfg["label"],
        "model_id": cfg["model_id"],
        "tokenizer_id": cfg["tokenizer_id"],
        "num_prompts": cfg["num_prompts"],
        "request_rate": rate if not math.isinf(rate) else "inf",
        "burstiness": cfg["burstiness"],
        "max_concurrency": cfg["max_concurrency"],
        # not in vLLM's settings (it keeps them only in its argument dump): the workload, for facts and diffs
        "dataset_name": cfg["dataset_name"],
        "random_input_len": cfg["random_input_len"],
        "random_output_len": cfg["random_output_len"],
        "random_range_ratio": cfg["random_range_ratio"],
        "served_model_name": cfg["served_model_name"],
    }
    for key in ("duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
                "request_throughput", "request_goodput", "output_throughput", "total_token_throughput"):
        result[key] = metrics[key]
    result.update({
        "input_lens": [int(r.prompt_len or 0) for r in records],
        "output_lens": output_lens,
        "ttfts": [r.ttft for r in records],
        "itls": [list(r.itl) for r in records],
        "latencies": [r.latency for r in records],
        "start_times": [r.start_time - t0 for r in records],
        "queue_times": [r.client_queue_time for r in records],
    })
    if cfg["save_generated_texts"]:
        result["generated_texts"] = [r.generated_text for r in records]
    result["errors"] = [r.error for r in records]
    result["max_output_tokens_per_s"] = metrics["max_output_tokens_per_s"]
    result["max_concurrent_requests"] = metrics["max_concurrent_requests"]
    result["rtfx"] = 0.0
    for key, value in metrics.items():
        if key.endswith("_ms"):
            result[key] = value
    if not cfg["save_detailed"]:
        for key in ("input_lens", "output_lens", "start_times", "ttfts", "itls", "generated_texts", "errors"):
            result.pop(key, None)

    dataset_info = dataset_info or {}
    contract = metrics_mod.contract_checks(
        records, prompt_len_exact=dataset_info.get("prompt_len_exact", True),
        prompt_tolerance_pct=cfg["prompt_tolerance_pct"], max_template_overhead=cfg["max_template_overhead"],
        check_output=cfg["ignore_eos"])  # without ignore_eos a natural stop is allowed
    self_check = _self_check(cfg, checks)
    llmfleet = {
        "schema": 1,
        "driver": "client",
        "valid": contract["valid"],
        "invalid_reasons": contract["invalid_reasons"],
        "contract": contract,
        "client": self_check,
        "failures": metrics_mod.failure_summary(records),
        "dataset": dataset_info,
        "warmup": warmup or {"requests": 0, "failed": 0, "errors": []},
        # start_times are seconds after this perf_counter() reading (CLOCK_MONOTONIC on Linux, the clock
        # of time.monotonic() in every process of the host): servers on the same host can be compared
        "start_time_base": t0,
        "clock": "perf_counter",
        "definitions": dict(metrics_mod.LLMFLEET_DEFINITIONS),
    }
    llmfleet.update(metrics_mod.llmfleet_additions(records, cfg["metric_percentiles"]))
    result["llmfleet"] = llmfleet
    return result


def _no_success_message(cfg, result):
    groups = result["llmfleet"]["failures"]
    shown = "; ".join("%d x %s" % (g["count"], g["error"]) for g in groups[:3]) or "no error recorded"
    return ("No request succeeded: all %d requests to %s%s failed (%s). No result is reported."
            % (result["failed"], cfg["base_url"], cfg["endpoint"], shown))


def run_benchmark(config):
    """Run the benchmark described by ``config`` (see the module docstring); return the result dict."""
    cfg = normalize_config(config)
    if not HAS_AIOHTTP:
        raise BenchmarkError("The benchmark client needs the Python package aiohttp on the host that runs it "
                             "(the controller by default): pip install aiohttp")
    progress = cfg["progress"]
    prompts, info, warmup = _run_loop(_prepare(cfg, progress), cfg["use_uvloop"])
    plan = [(p.request_id, request_body(cfg, p.prompt, p.output_len), p.prompt_len, p.output_len) for p in prompts]
    del prompts
    arrivals = arrival_offsets(len(plan), cfg["request_rate"], cfg["burstiness"], cfg["seed"])
    gc.collect()
    frozen = hasattr(gc, "freeze")
    if frozen:
        gc.freeze()  # the plan and dataset are static: keep the collector off them during the run
    try:
        if cfg["workers"] > 1:
            records, checks, t0 = _run_workers(cfg, plan, arrivals, progress)
        else:
            records, checks, t0 = _run_loop(_run_in_process(cfg, plan, arrivals, progress), cfg["use_uvloop"])
    finally:
        if frozen:
            gc.unfreeze()
    result = build_result(cfg, records, t0, checks, info, warmup)
    if not result["completed"]:
        raise BenchmarkError(_no_success_message(cfg, result), result=result)
    return result
