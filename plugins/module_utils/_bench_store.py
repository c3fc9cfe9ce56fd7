# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a benchmark result becomes once it is measured: a local fact, a Prometheus textfile,
a regression verdict against the previous result, and engine-native results in our shape.

Pure functions over dicts (standard library only), so the served host needs nothing extra and
unit tests call them directly.
"""

from __future__ import annotations

import math

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError

# Scalar result fields copied into the local fact and exported to Prometheus.
# (result field, Prometheus metric name suffix, help text)
SCALAR_METRICS = (
    ("completed", "completed_requests", "Requests that completed successfully"),
    ("failed", "failed_requests", "Requests that failed"),
    ("duration", "duration_seconds", "Benchmark duration"),
    ("request_throughput", "request_throughput_per_second", "Completed requests per second"),
    ("output_throughput", "output_throughput_tokens_per_second", "Output tokens per second"),
    ("total_token_throughput", "total_token_throughput_tokens_per_second", "Input plus output tokens per second"),
    ("max_output_tokens_per_s", "peak_output_tokens_per_second", "Peak output tokens per second"),
)
LATENCY_METRICS = ("ttft", "tpot", "itl", "e2el")
LATENCY_STATS = ("mean", "median", "p99")

# SGLang's bench_serving names -> vLLM's names (vLLM's are the ones we store).
_SGLANG_RENAMES = {
    "mean_e2e_latency_ms": "mean_e2el_ms",
    "median_e2e_latency_ms": "median_e2el_ms",
    "std_e2e_latency_ms": "std_e2el_ms",
    "p99_e2e_latency_ms": "p99_e2el_ms",
}
_REQUIRED_RESULT_FIELDS = ("completed", "duration", "output_throughput", "mean_ttft_ms", "p99_ttft_ms")


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def build_fact(result, labels, timestamp):
    """The ``ansible_local.llmfleet_benchmark`` fact: the last result, with what it was measured on."""
    fact = {
        "time": timestamp,
        "valid": bool(result.get("llmfleet", {}).get("valid", True)),
        "settings": {
            key: result.get(key)
            for key in (
                "backend",
                "model_id",
                "num_prompts",
                "max_concurrency",
                "request_rate",
                "random_input_len",
                "random_output_len",
            )
            if key in result
        },
    }
    fact.update({key: value for key, value in sorted(labels.items()) if value is not None})
    for field, _name, _help in SCALAR_METRICS:
        fact[field] = _number(result.get(field))
    for metric in LATENCY_METRICS:
        for stat in LATENCY_STATS:
            key = "%s_%s_ms" % (stat, metric)
            fact[key] = _number(result.get(key))
    return fact


def _label_text(labels):
    def escape(value):
        return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return ",".join('%s="%s"' % (key, escape(value)) for key, value in sorted(labels.items()) if value is not None)


def prometheus_textfile(result, labels, timestamp):
    """Node-exporter textfile-collector content for one result."""
    lab = _label_text(labels)
    lines = []

    def metric(name, help_text, value, extra=None):
        full = "llmfleet_benchmark_" + name
        lines.append("# HELP %s %s" % (full, help_text))
        lines.append("# TYPE %s gauge" % full)
        label_part = lab
        if extra:
            label_part = ",".join(x for x in (lab, _label_text(extra)) if x)
        lines.append("%s{%s} %s" % (full, label_part, repr(float(value))))

    for field, name, help_text in SCALAR_METRICS:
        value = _number(result.get(field))
        if value is not None:
            metric(name, help_text, value)
    for metric_name in LATENCY_METRICS:
        samples = []
        for stat in LATENCY_STATS:
            value = _number(result.get("%s_%s_ms" % (stat, metric_name)))
            if value is not None:
                samples.append((stat, value / 1000.0))
        if samples:
            full = "llmfleet_benchmark_%s_seconds" % metric_name
            lines.append("# HELP %s %s latency by statistic" % (full, metric_name.upper()))
            lines.append("# TYPE %s gauge" % full)
            for stat, value in samples:
                lines.append("%s{%s} %s" % (full, ",".join(x for x in (lab, 'stat="%s"' % stat) if x), repr(value)))
    metric(
        "valid",
        "1 when the run measured the requested workload",
        1 if result.get("llmfleet", {}).get("valid", True) else 0,
    )
    metric("timestamp_seconds", "When the benchmark finished (Unix time)", timestamp)
    return "\n".join(lines) + "\n"


def regression_check(current, baseline, threshold_pct):
    """Compare with the previous stored result.

    Fails when output throughput dropped, or p99 TTFT grew, by more than ``threshold_pct`` percent.
    Returns ``{"checked", "passed", "details": [...], "message"}``.
    """
    if threshold_pct is None:
        return {"checked": False, "passed": True, "details": [], "message": "no regression threshold set"}
    if not baseline:
        return {
            "checked": False,
            "passed": True,
            "details": [],
            "message": "no previous result to compare with: this run becomes the baseline",
        }
    details = []
    checks = (
        ("output_throughput", "output throughput (tok/s)", -1),  # lower is worse
        ("p99_ttft_ms", "p99 TTFT (ms)", +1),  # higher is worse
    )
    for key, label, worse_sign in checks:
        new, old = _number(current.get(key)), _number(baseline.get(key))
        if new is None or old is None or old == 0:
            details.append(
                {
                    "metric": key,
                    "checked": False,
                    "reason": "missing in %s" % ("baseline" if old is None or old == 0 else "result"),
                }
            )
            continue
        change_pct = (new - old) / old * 100.0
        regressed = change_pct * worse_sign > threshold_pct
        details.append(
            {
                "metric": key,
                "label": label,
                "previous": old,
                "current": new,
                "change_pct": round(change_pct, 2),
                "regressed": regressed,
                "checked": True,
            }
        )
    regressed = [d for d in details if d.get("regressed")]
    if regressed:
        message = "; ".join(
            "%s went from %.1f to %.1f (%+.1f%%, threshold %.1f%%)"
            % (d["label"], d["previous"], d["current"], d["change_pct"], threshold_pct)
            for d in regressed
        )
        return {"checked": True, "passed": False, "details": details, "message": "Benchmark regression: " + message}
    return {
        "checked": True,
        "passed": True,
        "details": details,
        "message": "within %.1f%% of the previous result" % threshold_pct,
    }


def normalize_engine_result(raw, engine):
    """An engine's own benchmark JSON (``vllm bench serve --save-result`` or
    ``python3 -m sglang.bench_serving --output-file``) in our (vLLM's) field names."""
    if not isinstance(raw, dict):
        raise BenchmarkError(
            "engine_result must be the JSON object the engine's benchmark saved, got %s" % type(raw).__name__
        )
    result = dict(raw)
    if engine == "sglang":
        for old, new in _SGLANG_RENAMES.items():
            if old in result and new not in result:
                result[new] = result.pop(old)
        if "total_token_throughput" not in result and _number(result.get("duration")):
            tokens = (result.get("total_input_tokens") or 0) + (result.get("total_output_tokens") or 0)
            result["total_token_throughput"] = tokens / result["duration"]
        result.setdefault(
            "failed",
            max(0, int(result.get("num_prompts", result.get("completed", 0))) - int(result.get("completed", 0))),
        )
    elif engine != "vllm":
        raise BenchmarkError("engine must be vllm or sglang to read an engine's benchmark result, got %r" % engine)
    missing = [key for key in _REQUIRED_RESULT_FIELDS if _number(result.get(key)) is None]
    if missing:
        raise BenchmarkError(
            "The %s benchmark result lacks %s: is it the file written by %s?"
            % (
                engine,
                ", ".join(missing),
                "vllm bench serve --save-result"
                if engine == "vllm"
                else "python3 -m sglang.bench_serving --output-file",
            )
        )
    llmfleet = dict(result.get("llmfleet") or {})
    llmfleet.update({"driver": "engine", "engine": engine})
    llmfleet.setdefault("valid", True)
    result["llmfleet"] = llmfleet
    return result
