# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's settings: ``DEFAULTS`` (the keys mirror ``vllm bench serve`` flags; the table is in
``_bench_client``'s docstring) and ``normalize_config(config) -> cfg``, which fills in defaults and
refuses bad values with a ``BenchmarkError`` naming each option.
"""

from __future__ import annotations

import math
import uuid

from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_metrics as metrics_mod
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError

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
        errors.append(
            "endpoint must be a chat completions path such as /v1/chat/completions (backend openai-chat), "
            "got %r" % (cfg["endpoint"],)
        )
    if not cfg["served_model_name"] or not isinstance(cfg["served_model_name"], str):
        errors.append("served_model_name (the model name the server serves, its --served-model-name) is required")
    if cfg["dataset_name"] != "random":
        errors.append(
            "dataset_name must be 'random' (the only dataset this client generates), got %r" % (cfg["dataset_name"],)
        )
    if cfg["backend"] not in ("openai-chat", "vllm-chat", "openai"):
        errors.append("backend must be openai-chat, got %r" % (cfg["backend"],))

    minimums = {
        "random_input_len": 1,
        "random_output_len": 1,
        "num_prompts": 1,
        "num_warmups": 0,
        "workers": 1,
        "seed": None,
    }
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
        errors.append(
            "request_rate must be a positive number of requests per second or 'inf', got %r" % (cfg["request_rate"],)
        )
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
        errors.append(
            "percentile_metrics must be a list drawn from ttft, tpot, itl, e2el, got %r" % (cfg["percentile_metrics"],)
        )
    cfg["percentile_metrics"] = metrics
    try:
        pcts = [_as_float(p) for p in _split_list(cfg["metric_percentiles"])]
        if not pcts or any(not 0 <= p <= 100 for p in pcts):
            raise ValueError
        cfg["metric_percentiles"] = pcts
    except (TypeError, ValueError):
        errors.append(
            "metric_percentiles must be a list of numbers between 0 and 100, got %r" % (cfg["metric_percentiles"],)
        )
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


def auth_headers(cfg):
    """The Authorization header for ``api_key`` (none without a key); every request to the server sends it."""
    headers = {}
    if cfg["api_key"]:
        headers["Authorization"] = "Bearer %s" % cfg["api_key"]
    return headers
