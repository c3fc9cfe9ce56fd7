# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's result: vLLM's ``--save-result`` dict plus ``llmfleet`` (the contract checks and the
load generator's own health), built from the request records.
"""

from __future__ import annotations

import math
import time

from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_metrics as metrics_mod
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_run import HAS_UVLOOP

_MIN_CPU_WINDOW_S = 1.0


def client_self_check(cfg, checks):
    reasons = []
    for c in checks:
        name = "worker %s" % c.get("worker", 0)
        # below a second the CPU share is dominated by start-up work, not by keeping up with streams
        if c["cpu_percent"] >= cfg["cpu_threshold_pct"] and c.get("wall_s", 0) >= _MIN_CPU_WINDOW_S:
            reasons.append(
                "%s used %.0f%% of a CPU core (threshold %.0f%%): the client may have delayed reads; "
                "raise workers" % (name, c["cpu_percent"], cfg["cpu_threshold_pct"])
            )
        if c["loop_lag_p99_ms"] >= cfg["lag_threshold_ms"]:
            reasons.append(
                "%s event loop ran %.1f ms late at p99 (threshold %.1f ms): latencies may include client "
                "delay; raise workers" % (name, c["loop_lag_p99_ms"], cfg["lag_threshold_ms"])
            )
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
        records, duration, cfg["metric_percentiles"], cfg["goodput"], cfg["percentile_metrics"]
    )
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
    for key in (
        "duration",
        "completed",
        "failed",
        "total_input_tokens",
        "total_output_tokens",
        "request_throughput",
        "request_goodput",
        "output_throughput",
        "total_token_throughput",
    ):
        result[key] = metrics[key]
    result.update(
        {
            "input_lens": [int(r.prompt_len or 0) for r in records],
            "output_lens": output_lens,
            "ttfts": [r.ttft for r in records],
            "itls": [list(r.itl) for r in records],
            "latencies": [r.latency for r in records],
            "start_times": [r.start_time - t0 for r in records],
            "queue_times": [r.client_queue_time for r in records],
        }
    )
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
        records,
        prompt_len_exact=dataset_info.get("prompt_len_exact", True),
        prompt_tolerance_pct=cfg["prompt_tolerance_pct"],
        max_template_overhead=cfg["max_template_overhead"],
        check_output=cfg["ignore_eos"],
    )  # without ignore_eos a natural stop is allowed
    self_check = client_self_check(cfg, checks)
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


def no_success_message(cfg, result):
    groups = result["llmfleet"]["failures"]
    shown = "; ".join("%d x %s" % (g["count"], g["error"]) for g in groups[:3]) or "no error recorded"
    return "No request succeeded: all %d requests to %s%s failed (%s). No result is reported." % (
        result["failed"],
        cfg["base_url"],
        cfg["endpoint"],
        shown,
    )
