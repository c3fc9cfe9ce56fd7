"""`vllm serve` command-line parity: the flags, types and choices the real parser has.

Like vLLM's FlexibleArgumentParser: ``--flag_name`` is read as ``--flag-name``; JSON-valued
config flags also take ``--flag.key value`` / ``--flag.key=value`` pieces (``--attention_config.
use_fp4_indexer_cache=True``), merged into one JSON object; booleans have ``--no-`` forms.
An unknown or malformed flag exits 2 with the usage on stderr (argparse), as vLLM does; "unknown"
means absent from vLLM's own parser (the flag catalog, see flag_catalog.py), whose flags the
emulator does not act on are accepted and ignored.
"""

from __future__ import annotations

import argparse
import json
import os
import re

from .flag_catalog import add_catalog_flags, value_flags
from .spec import SECRET_ARGS, ServerSpec, default_context, engine_env

VLLM_VERSION = "0.20.0"

KV_CACHE_DTYPES = ["auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla"]
DTYPES = ["auto", "half", "float16", "bfloat16", "float", "float32"]
# Flags whose value is a JSON object (and which accept dotted sub-keys).
JSON_FLAGS = [
    "--speculative-config",
    "--attention-config",
    "--compilation-config",
    "--kv-transfer-config",
    "--kv-events-config",
    "--additional-config",
    "--structured-outputs-config",
    "--hf-overrides",
    "--override-generation-config",
    "--limit-mm-per-prompt",
    "--model-loader-extra-config",
    "--ec-transfer-config",
    "--mm-processor-kwargs",
    "--default-chat-template-kwargs",
]
BOOL_FLAGS = [
    # engine
    "--enable-expert-parallel",
    "--trust-remote-code",
    "--enforce-eager",
    "--enable-prefix-caching",
    "--enable-chunked-prefill",
    "--disable-hybrid-kv-cache-manager",
    "--disable-custom-all-reduce",
    "--async-scheduling",
    "--disable-log-stats",
    "--enable-eplb",
    "--skip-tokenizer-init",
    "--enable-lora",
    "--data-parallel-hybrid-lb",
    "--data-parallel-external-lb",
    "--enable-dbo",
    "--enable-sleep-mode",
    "--calculate-kv-scales",
    "--disable-sliding-window",
    "--enable-log-requests",
    "--disable-log-requests",
    "--enable-prompt-tokens-details",
    # frontend
    "--enable-auto-tool-choice",
    "--exclude-tools-when-tool-choice-none",
    "--enable-request-id-headers",
    "--disable-fastapi-docs",
    "--enable-server-load-tracking",
    "--enable-force-include-usage",
    "--disable-frontend-multiprocessing",
    "--enable-tokenizer-info-endpoint",
    "--return-tokens-as-token-ids",
    "--disable-uvicorn-access-log",
    "--enable-log-outputs",
]
INT_FLAGS = [
    ("--tensor-parallel-size", "-tp"),
    ("--pipeline-parallel-size", "-pp"),
    ("--data-parallel-size", "-dp"),
    ("--data-parallel-size-local", "-dpl"),
    ("--data-parallel-rpc-port", "-dpp"),
    ("--data-parallel-start-rank", "-dpr"),
    ("--api-server-count", "-asc"),
    ("--nnodes", "-n"),
    ("--node-rank", "-r"),
    ("--master-port",),
    ("--port",),
    ("--block-size",),
    ("--max-num-seqs",),
    ("--max-num-batched-tokens",),
    ("--seed",),
    ("--max-logprobs",),
    ("--max-log-len",),
    ("--max-parallel-loading-workers",),
    ("--max-lora-rank",),
    ("--max-loras",),
    ("--num-gpu-blocks-override",),
    ("--expert-placement-strategy-seed",),
    ("--max-num-partial-prefills",),
    ("--long-prefill-token-threshold",),
    ("--uvicorn-timeout-keep-alive",),
]
FLOAT_FLAGS = ["--gpu-memory-utilization", "--swap-space", "--cpu-offload-gb", "--kv-cache-memory-bytes"]
STR_FLAGS = [
    ("--model",),
    ("--host",),
    ("--tokenizer",),
    ("--tokenizer-mode",),
    ("--revision",),
    ("--tokenizer-revision",),
    ("--download-dir",),
    ("--load-format",),
    ("--quantization", "-q"),
    ("--tool-call-parser",),
    ("--tool-parser-plugin",),
    ("--reasoning-parser",),
    ("--moe-backend",),
    ("--data-parallel-address", "-dpa"),
    ("--master-addr",),
    ("--chat-template",),
    ("--chat-template-content-format",),
    ("--response-role",),
    ("--root-path",),
    ("--ssl-keyfile",),
    ("--ssl-certfile",),
    ("--ssl-ca-certs",),
    ("--hf-token",),
    ("--generation-config",),
    ("--config",),
    ("--config-format",),
    ("--all2all-backend",),
    ("--allowed-local-media-path",),
    ("--logits-processor-pattern",),
    ("--runner",),
    ("--convert",),
    ("--task",),
    ("--worker-cls",),
    ("--distributed-executor-backend",),
    ("--data-parallel-backend", "-dpb"),
    ("--mm-encoder-tp-mode",),
    ("--uvicorn-log-level",),
    ("--lora-modules",),
    ("--prefix-caching-hash-algo",),
]


def human_int(value):
    """vLLM's --max-model-len: an integer, 1k/1K (1000/1024), 1m/1M, or auto/-1 (the model's)."""
    text = value.strip()
    if text.lower() == "auto" or text == "-1":
        return -1
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)", text)
    if not m:
        raise argparse.ArgumentTypeError("invalid human-readable integer %r (e.g. 32768, 32k, 1M, auto)" % value)
    number, unit = float(m.group(1)), m.group(2)
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}[unit]
    result = number * scale
    if result != int(result):
        raise argparse.ArgumentTypeError("%r is not a whole number of tokens" % value)
    return int(result)


def json_object(value):
    try:
        obj = json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("invalid JSON %r: %s" % (value, exc)) from exc
    if not isinstance(obj, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, got %r" % value)
    return obj


def _scalar(text):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def normalize(argv):
    """Underscores to dashes in flag names; dotted JSON sub-keys merged into one JSON value."""
    out = []
    dotted = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            out.append(arg)
            continue
        key, eq, value = arg.partition("=")
        head, dot, sub = key.partition(".")
        head = head.replace("_", "-")
        # vLLM turns '--flag.key value' into JSON for any flag that takes a value, not only its own.
        if dot and (head in JSON_FLAGS or head in value_flags("vllm")):
            if not eq:
                if i < len(argv) and not argv[i].startswith("--"):
                    value = argv[i]
                    i += 1
                else:
                    value = "true"
            node = dotted.setdefault(head, {})
            parts = sub.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = _scalar(value)
            continue
        out.append(head + dot + sub + eq + value)
    for head, obj in dotted.items():
        if head in out:  # a whole JSON value was given as well: merge into it
            idx = out.index(head)
            if idx + 1 < len(out):
                try:
                    base = json.loads(out[idx + 1])
                except ValueError:
                    base = None
                if isinstance(base, dict):
                    base.update(obj)
                    out[idx + 1] = json.dumps(base)
                    continue
        out.extend([head, json.dumps(obj)])
    return out


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vllm serve",
        allow_abbrev=False,
        description="Start the vLLM OpenAI Compatible API server (llmfleet engine emulator).",
    )
    parser.add_argument("model_tag", nargs="?", default=None, help="the model tag to serve")
    parser.add_argument("--served-model-name", nargs="+", default=None)
    parser.add_argument("--api-key", nargs="+", default=None)
    parser.add_argument("--headless", action="store_true", default=None)
    parser.add_argument("--kv-cache-dtype", choices=KV_CACHE_DTYPES, default=None)
    parser.add_argument("--dtype", choices=DTYPES, default=None)
    parser.add_argument("--max-model-len", type=human_int, default=None)
    parser.add_argument("--tool-server", default=None)
    for names in INT_FLAGS:
        parser.add_argument(*names, type=int, default=None)
    for name in FLOAT_FLAGS:
        parser.add_argument(name, type=float, default=None)
    for names in STR_FLAGS:
        parser.add_argument(*names, type=str, default=None)
    for name in BOOL_FLAGS:
        parser.add_argument(name, action=argparse.BooleanOptionalAction, default=None)
    for name in JSON_FLAGS:
        parser.add_argument(name, type=json_object, default=None)
    # Every other flag of the real parser (the catalog the planner checks extra_args against).
    return add_catalog_flags(parser, "vllm")


def top_parser():
    parser = argparse.ArgumentParser(prog="vllm", description="vLLM CLI (llmfleet engine emulator)")
    parser.add_argument("-v", "--version", action="version", version=VLLM_VERSION)
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{serve}")
    sub.add_parser("serve", add_help=False)
    return parser


def parse(argv, environ=None):
    """ServerSpec from `vllm ARGS` (``argv`` starts with ``serve``); exits 2 like argparse on errors."""
    environ = os.environ if environ is None else environ
    top = top_parser()
    if not argv or argv[0] != "serve":
        top.parse_args(argv)  # prints usage / version and exits
    args = build_parser().parse_args(normalize(argv[1:]))
    if args.model_tag and args.model and args.model_tag != args.model:
        build_parser().error("the positional model %r and --model %r disagree" % (args.model_tag, args.model))
    model = args.model_tag or args.model or "Qwen/Qwen3-0.6B"
    keys = list(args.api_key or [])
    if not keys and environ.get("VLLM_API_KEY"):
        keys = [environ["VLLM_API_KEY"]]
    spec_cfg = args.speculative_config or {}
    spec_tokens = 1
    method = ""
    if spec_cfg:
        method = str(spec_cfg.get("method") or spec_cfg.get("model") or "draft_model")
        n = spec_cfg.get("num_speculative_tokens", 1)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            build_parser().error(
                "argument --speculative-config: num_speculative_tokens must be a positive integer, got %r" % (n,)
            )
        spec_tokens = n + 1
    max_len = args.max_model_len
    if max_len is None or max_len < 0:
        max_len = default_context(model)
    if args.tensor_parallel_size is not None and args.tensor_parallel_size < 1:
        build_parser().error("argument --tensor-parallel-size/-tp: must be >= 1")
    gmu = args.gpu_memory_utilization
    if gmu is not None and not 0 < gmu <= 1:
        build_parser().error("argument --gpu-memory-utilization: must be in (0, 1], got %s" % gmu)
    port = 8000 if args.port is None else args.port
    if not 0 <= port <= 65535:
        build_parser().error("argument --port: %d is not a TCP port" % port)
    return ServerSpec(
        engine="vllm",
        version=VLLM_VERSION,
        model=model,
        served_names=list(args.served_model_name or [model]),
        host=args.host or "0.0.0.0",
        port=port,
        api_keys=keys,
        tensor_parallel_size=args.tensor_parallel_size or 1,
        reasoning_parser=args.reasoning_parser or "",
        tool_call_parser=args.tool_call_parser or "",
        auto_tool_choice=bool(args.enable_auto_tool_choice),
        spec_method=method,
        spec_tokens=spec_tokens,
        max_model_len=max_len,
        max_batch=args.max_num_seqs or 0,
        moe_backend=args.moe_backend or "",
        enable_metrics=True,
        env=engine_env(environ),
        args={k: v for k, v in vars(args).items() if k not in SECRET_ARGS and v is not None},
    )
