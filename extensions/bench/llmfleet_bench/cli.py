"""``python -m llmfleet_bench [serve] --base-url ... --model ...``: ``vllm bench serve``'s flags.

Examples (PYTHONPATH=extensions/bench, from the repository root):

    python -m llmfleet_bench --backend openai-chat --model deepseek-ai/DeepSeek-V4-Flash \\
        --served-model-name deepseek --dataset-name random --random-input-len 8192 \\
        --random-output-len 1024 --num-prompts 512 --max-concurrency 32 \\
        --endpoint /v1/chat/completions --base-url http://127.0.0.1:8000 --save-result

Exit status: 0 a valid run; 1 the benchmark could not run (message on stderr); 2 bad flags;
3 the run finished but did not measure the requested workload (the table says why).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request

from ._collection import module_utils


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m llmfleet_bench",
        description="vllm bench serve's random-dataset serving benchmark, with the llmfleet.serving client "
        "(uvloop, lean SSE parsing, several worker processes).",
    )
    # --- vllm bench serve flags ---
    p.add_argument(
        "--backend",
        default="openai-chat",
        choices=["openai-chat", "vllm-chat"],
        help="only chat completions is supported (default openai-chat)",
    )
    p.add_argument("--base-url", default=None, help="server root URL (default http://HOST:PORT)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--endpoint", default="/v1/chat/completions")
    p.add_argument("--header", metavar="KEY=VALUE", nargs="*", help="extra request headers")
    p.add_argument(
        "--model", default=None, help="model id recorded in the result; default: the first model of /v1/models"
    )
    p.add_argument("--served-model-name", default=None, help="model name sent in requests (default --model)")
    p.add_argument("--tokenizer", default=None, help="recorded as tokenizer_id (prompts use the server's tokenizer)")
    p.add_argument("--dataset-name", default="random", choices=["random"])
    p.add_argument("--num-prompts", type=int, default=1000)
    p.add_argument("--random-input-len", type=int, default=1024)
    p.add_argument("--random-output-len", type=int, default=128)
    p.add_argument("--random-range-ratio", type=float, default=0.0)
    p.add_argument("--input-len", type=int, default=None, help="alias of --random-input-len")
    p.add_argument("--output-len", type=int, default=None, help="alias of --random-output-len")
    p.add_argument("--max-concurrency", type=int, default=None)
    p.add_argument("--request-rate", default="inf")
    p.add_argument("--burstiness", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-warmups", type=int, default=0)
    p.add_argument(
        "--ignore-eos",
        action="store_true",
        help="accepted for parity: the random dataset always sends ignore_eos, as vLLM does",
    )
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--extra-body", type=json.loads, default=None, help="JSON merged into every request")
    p.add_argument("--percentile-metrics", default="ttft,tpot,itl,e2el")
    p.add_argument("--metric-percentiles", default="50,90,99")
    p.add_argument("--goodput", nargs="+", default=None, metavar="KEY:VALUE", help="SLOs in ms: ttft:500 tpot:50")
    p.add_argument("--request-id-prefix", default=None)
    p.add_argument("--label", default=None)
    p.add_argument("--save-result", action="store_true")
    p.add_argument("--save-detailed", action="store_true")
    p.add_argument("--result-dir", default=None)
    p.add_argument("--result-filename", default=None)
    p.add_argument("--metadata", metavar="KEY=VALUE", nargs="*")
    p.add_argument("--disable-tqdm", action="store_true", help="no progress lines on stderr")
    # --- ours ---
    p.add_argument("--api-key", default=None, help="Bearer key (default: $OPENAI_API_KEY, as vLLM)")
    p.add_argument("--workers", type=int, default=1, help="load-generator processes")
    p.add_argument("--request-timeout", type=float, default=3600.0)
    p.add_argument("--stream-idle-timeout", type=float, default=None)
    p.add_argument("--use-server-tokenizer", default="auto", choices=["auto", "always", "never"])
    p.add_argument("--vocab-size", type=int, default=None)
    p.add_argument("--continuous-usage-stats", action="store_true")
    p.add_argument(
        "--skip-role-chunk",
        action="store_true",
        help="do not count the opening role-only chunk (as released vLLM >= 0.3x)",
    )
    p.add_argument("--save-generated-texts", action="store_true")
    p.add_argument("--no-uvloop", action="store_true")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the result JSON (without per-request arrays) to stdout instead of the table",
    )
    return p


def _pairs(items, sep, what):
    out = {}
    for item in items or ():
        if sep not in item:
            raise SystemExit("%s must look like KEY%sVALUE, got %r" % (what, sep, item))
        key, value = item.split(sep, 1)
        out[key.strip()] = value.strip()
    return out


def _first_model(base_url, api_key):
    req = urllib.request.Request(base_url + "/v1/models")
    if api_key:
        req.add_header("Authorization", "Bearer " + api_key)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = json.load(resp)
        return data["data"][0]["id"]
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError) as exc:
        raise SystemExit("--model not given and %s/v1/models gave no model: %s" % (base_url, exc)) from exc


def config_from_args(args):
    base_url = args.base_url or "http://%s:%d" % (args.host, args.port)
    api_key = args.api_key or os.environ.get("OPENAI_API_KEY")
    served = args.served_model_name or args.model or _first_model(base_url.rstrip("/"), api_key)
    return {
        "backend": args.backend,
        "base_url": base_url,
        "endpoint": args.endpoint,
        "headers": _pairs(args.header, "=", "--header") or None,
        "served_model_name": served,
        "model_id": args.model or served,
        "tokenizer_id": args.tokenizer,
        "api_key": api_key,
        "dataset_name": args.dataset_name,
        "num_prompts": args.num_prompts,
        "random_input_len": args.input_len or args.random_input_len,
        "random_output_len": args.output_len or args.random_output_len,
        "random_range_ratio": args.random_range_ratio,
        "max_concurrency": args.max_concurrency,
        "request_rate": args.request_rate,
        "burstiness": args.burstiness,
        "seed": args.seed,
        "num_warmups": args.num_warmups,
        "temperature": args.temperature,
        "extra_body": args.extra_body,
        "percentile_metrics": args.percentile_metrics,
        "metric_percentiles": args.metric_percentiles,
        "goodput": args.goodput,
        "request_id_prefix": args.request_id_prefix,
        "label": args.label,
        "save_detailed": args.save_detailed,
        "save_generated_texts": args.save_generated_texts,
        "workers": args.workers,
        "request_timeout": args.request_timeout,
        "stream_idle_timeout": args.stream_idle_timeout,
        "use_server_tokenizer": args.use_server_tokenizer,
        "vocab_size": args.vocab_size,
        "continuous_usage_stats": args.continuous_usage_stats,
        "use_uvloop": not args.no_uvloop,
        "skip_role_chunk": args.skip_role_chunk,
    }


def result_filename(args, result):
    """vLLM's default name: {label}-{rate}qps[-concurrencyN]-{model}-{date}.json."""
    if args.result_filename:
        name = args.result_filename
    else:
        conc = "-concurrency%s" % args.max_concurrency if args.max_concurrency is not None else ""
        rate = result["request_rate"]
        parts = (
            args.label or args.backend,
            rate if rate == "inf" else float(rate),
            conc,
            result["model_id"].split("/")[-1],
            result["date"],
        )
        name = "%s-%sqps%s-%s-%s.json" % parts
    if args.result_dir:
        os.makedirs(args.result_dir, exist_ok=True)
        name = os.path.join(args.result_dir, name)
    return name


def _progress_printer():
    state = {"stage": None}

    def show(event):
        if event["stage"] != state["stage"]:
            state["stage"] = event["stage"]
        sys.stderr.write("[%s] %d/%d (%.0f s)\n" % (event["stage"], event["done"], event["total"], event["elapsed_s"]))
        sys.stderr.flush()

    return show


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        argv = argv[1:]  # `python -m llmfleet_bench serve ...` reads like `vllm bench serve ...`
    args = build_parser().parse_args(argv)
    client = module_utils("_bench_client")
    report = module_utils("_bench_report")
    errors = module_utils("_errors")
    config = config_from_args(args)
    if not args.disable_tqdm:
        config["progress"] = _progress_printer()
    started = time.time()
    try:
        result = client.run_benchmark(config)
    except errors.LlmfleetError as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 1
    for key, value in _pairs(args.metadata, "=", "--metadata").items():
        result[key] = value
    if args.json:
        shown = {
            k: v
            for k, v in result.items()
            if k
            not in (
                "input_lens",
                "output_lens",
                "ttfts",
                "itls",
                "start_times",
                "generated_texts",
                "errors",
                "latencies",
                "queue_times",
            )
        }
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
    else:
        sys.stdout.write(report.format_summary(result) + "\n")
    if args.save_result:
        name = result_filename(args, result)
        with open(name, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
        sys.stderr.write(
            "result saved to %s (%.0f s in all, started %s)\n"
            % (name, time.time() - started, datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"))
        )
    return 0 if result["llmfleet"]["valid"] else 3
