# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load generator with ``vllm bench serve``'s workload and metrics: ``run_benchmark(config) -> result``.

Runs on the controller, a load-generator host or a GPU host with the standard library alone;
``uvloop`` is used when installed, and ``aiohttp`` only for ``http_client: aiohttp``.

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
JSON decoding); ``http_client: aiohttp`` uses vLLM's client library instead. The preflight and the
tokenizer calls use the collection's request/response client (``_http``).

Where the parts live
--------------------
``_bench_config`` (options), ``_bench_prepare`` (preflight, server tokenizer, dataset, warm-up),
``_bench_run`` (event loop, slots, arrivals, worker processes), ``_bench_raw`` / ``_bench_aiohttp``
(the two transports), ``_bench_stream`` (request body, SSE measurement on ``_sse``), ``_bench_result``
(vLLM's result dict plus ``llmfleet``), ``_bench_metrics`` / ``_bench_dataset`` (the definitions).
"""

from __future__ import annotations

import gc

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_aiohttp import HAS_AIOHTTP
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_config import normalize_config
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_prepare import prepare
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_result import build_result, no_success_message
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_run import (
    arrival_offsets,
    run_in_process,
    run_loop,
    run_workers,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_stream import request_body
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError


def run_benchmark(config):
    """Run the benchmark described by ``config`` (see the module docstring); return the result dict."""
    cfg = normalize_config(config)
    if cfg["http_client"] == "aiohttp" and not HAS_AIOHTTP:
        raise BenchmarkError(
            "http_client is 'aiohttp' but the Python package aiohttp is not installed on the host "
            "that runs the benchmark: pip install aiohttp, or use http_client 'raw' (the default)"
        )
    progress = cfg["progress"]
    prompts, info, warmup = prepare(cfg, progress)
    plan = [(p.request_id, request_body(cfg, p.prompt, p.output_len), p.prompt_len, p.output_len) for p in prompts]
    del prompts
    arrivals = arrival_offsets(len(plan), cfg["request_rate"], cfg["burstiness"], cfg["seed"])
    gc.collect()
    frozen = hasattr(gc, "freeze")
    if frozen:
        gc.freeze()  # the plan and dataset are static: keep the collector off them during the run
    try:
        if cfg["workers"] > 1:
            records, checks, t0 = run_workers(cfg, plan, arrivals, progress)
        else:
            records, checks, t0 = run_loop(run_in_process(cfg, plan, arrivals, progress), cfg["use_uvloop"])
    finally:
        if frozen:
            gc.unfreeze()
    result = build_result(cfg, records, t0, checks, info, warmup)
    if not result["completed"]:
        raise BenchmarkError(no_success_message(cfg, result), result=result)
    return result
