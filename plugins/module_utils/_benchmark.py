# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``llm_benchmark`` does with its options: ``run(module) -> outcome``.

The module file only declares its options and hands failures to ``_failure``; this file picks the
driver (our load generator, or an engine's own saved result), builds the fact, the Prometheus
textfile and the regression verdict, and writes ``result_path`` (through ``_files``). ``outcome`` is the
module result; ``outcome["failed"]`` marks a run that measured but must fail the task (invalid or regressed).
"""

from __future__ import annotations

import json
import time

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_store import (
    build_fact,
    normalize_engine_result,
    prometheus_textfile,
    regression_check,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError
from ansible_collections.llmfleet.serving.plugins.module_utils._files import write_file

# The module options that are load-generator settings, passed to run_benchmark under the same names.
CLIENT_OPTIONS = (
    "base_url",
    "endpoint",
    "served_model_name",
    "model_id",
    "api_key",
    "random_input_len",
    "random_output_len",
    "random_range_ratio",
    "num_prompts",
    "max_concurrency",
    "request_rate",
    "burstiness",
    "seed",
    "num_warmups",
    "request_timeout",
    "metric_percentiles",
    "goodput",
    "workers",
)


def client_config(params):
    config = {key: params[key] for key in CLIENT_OPTIONS}
    rate = str(config["request_rate"]).strip().lower()
    try:
        config["request_rate"] = float("inf") if rate == "inf" else float(rate)
    except ValueError:
        raise BenchmarkError(
            "request_rate must be a number of requests per second or 'inf', got %r" % params["request_rate"]
        ) from None
    config["goodput"] = {k: v for k, v in (params["goodput"] or {}).items() if v is not None}
    return config


def _run_client(config):
    # Imported here: only the driver=client path needs the load generator.
    from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_client, _bench_report

    result = _bench_client.run_benchmark(config)
    return result, _bench_report.format_summary(result)


def result_json(data):
    """The text ``result_path`` holds: the result, indented, keys sorted (stable for diffs)."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def run(module):
    """The module's outcome for its validated options. Raises BenchmarkError.

    ``result_path`` is written through ``_files.write_file`` (a temporary file and ``module.atomic_move``;
    nothing in check mode; the before/after text in diff mode).
    """
    params, check_mode = module.params, module.check_mode
    if params["driver"] == "engine":
        if not params["engine"] or params["engine_result"] is None:
            raise BenchmarkError(
                "driver=engine needs engine (vllm or sglang) and engine_result (the JSON its benchmark saved)"
            )
        result = normalize_engine_result(params["engine_result"], params["engine"])
        from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_report

        summary = _bench_report.format_summary(result)
    else:
        config = client_config(params)
        if check_mode:
            shown = dict(config, api_key="********" if config["api_key"] else None)
            return {"changed": False, "msg": "check mode: the benchmark was not run", "config": shown}
        result, summary = _run_client(config)

    if not result.get("completed"):
        errors = result.get("errors") or []
        first = next((e for e in errors if e), "no error recorded")
        raise BenchmarkError(
            "No request succeeded (%s failed) against %s%s: first error: %s. No result was stored."
            % (result.get("failed", "all"), params["base_url"], params["endpoint"], first),
            result=result,
        )
    labels = {key: str(value) for key, value in params["labels"].items() if value is not None}
    labels.setdefault("model", params["served_model_name"])
    now = time.time()
    fact = build_fact(result, labels, now)
    fact["time_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    prometheus = prometheus_textfile(result, labels, now)
    regression = regression_check(result, params["baseline"], params["regression_threshold_pct"])

    changed, diff = False, None
    if params["result_path"]:
        written = write_file(module, params["result_path"], result_json(result))
        changed, diff = written["changed"], written.get("diff")

    outcome = {
        "changed": changed,
        "result": result,
        "summary": summary,
        "fact": fact,
        "prometheus": prometheus,
        "regression": regression,
    }
    if diff is not None:
        outcome["diff"] = diff
    llmfleet = result.get("llmfleet", {})
    if not llmfleet.get("valid", True) and params["fail_on_invalid"]:
        outcome["failed"] = True
        outcome["msg"] = (
            "The run did not measure the requested workload: %s. Its numbers are not stored as the "
            "host's result; fix the server (ignore_eos, max_completion_tokens) or set fail_on_invalid=false."
            % "; ".join(llmfleet.get("invalid_reasons") or ["see result.llmfleet"])
        )
    elif not regression["passed"]:
        outcome["failed"] = True
        outcome["msg"] = regression["message"]
    return outcome
