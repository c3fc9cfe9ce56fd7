"""`python3 -m sglang.launch_server` command-line parity.

SGLang uses a plain argparse parser with abbreviations allowed, which is why the seed's
``--speculative-algo`` works (a unique prefix of ``--speculative-algorithm``); so does this one.
Store-true flags take no value; typed flags reject malformed values with exit 2 and the usage.
Flags of SGLang's own parser (the flag catalog, see flag_catalog.py) that the emulator does not act
on are accepted and ignored; any other flag exits 2.
"""

from __future__ import annotations

import argparse
import os

from .flag_catalog import add_catalog_flags
from .spec import SECRET_ARGS, ServerSpec, default_context, engine_env

SGLANG_VERSION = "0.5.10"

SPECULATIVE_ALGORITHMS = ["EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM"]
MOE_RUNNER_BACKENDS = [
    "auto",
    "deep_gemm",
    "triton",
    "triton_kernel",
    "flashinfer_trtllm",
    "flashinfer_cutlass",
    "flashinfer_mxfp4",
    "flashinfer_cutedsl",
    "cutlass",
    "marlin",
]
KV_CACHE_DTYPES = ["auto", "fp8_e5m2", "fp8_e4m3", "bf16", "bfloat16", "fp4_e2m1"]
DTYPES = ["auto", "half", "float16", "bfloat16", "float", "float32"]
STORE_TRUE = [
    "--trust-remote-code",
    "--disable-flashinfer-autotune",
    "--enable-dp-attention",
    "--enable-metrics",
    "--disable-radix-cache",
    "--disable-cuda-graph",
    "--disable-cuda-graph-padding",
    "--enable-torch-compile",
    "--enable-mixed-chunk",
    "--enable-eplb",
    "--enable-cache-report",
    "--skip-server-warmup",
    "--log-requests",
    "--show-time-cost",
    "--skip-tokenizer-init",
    "--enable-deterministic-inference",
    "--disable-overlap-schedule",
    "--enable-two-batch-overlap",
    "--enable-dp-lm-head",
    "--enable-nan-detection",
    "--enable-p2p-check",
    "--disable-custom-all-reduce",
    "--enable-custom-logit-processor",
    "--enable-expert-distribution-metrics",
    "--enable-metrics-for-all-schedulers",
    "--disable-shared-experts-fusion",
    "--enable-hierarchical-cache",
    "--allow-auto-truncate",
    "--enable-return-hidden-states",
    "--enable-symm-mem",
    "--enable-fp32-lm-head",
    "--enable-request-time-stats-logging",
    "--disable-chunked-prefix-cache",
    "--enable-single-batch-overlap",
]
INT_FLAGS = [
    ("--port",),
    ("--tp-size", "--tp"),
    ("--dp-size", "--dp"),
    ("--pp-size",),
    ("--ep-size", "--ep"),
    ("--nnodes",),
    ("--node-rank",),
    ("--dist-timeout",),
    ("--chunked-prefill-size",),
    ("--max-running-requests",),
    ("--max-total-tokens",),
    ("--max-prefill-tokens",),
    ("--context-length",),
    ("--random-seed",),
    ("--cuda-graph-max-bs",),
    ("--page-size",),
    ("--decode-log-interval",),
    ("--speculative-num-steps",),
    ("--speculative-eagle-topk",),
    ("--speculative-num-draft-tokens",),
    ("--ep-num-redundant-experts",),
    ("--stream-interval",),
    ("--base-gpu-id",),
    ("--gpu-id-step",),
    ("--num-continuous-decode-steps",),
    ("--max-queued-requests",),
    ("--download-dir-max-workers",),
    ("--torch-compile-max-bs",),
    ("--moe-dense-tp-size",),
    ("--pp-max-micro-batch-size",),
    ("--disaggregation-bootstrap-port",),
    ("--nccl-port",),
    ("--metrics-port",),
    ("--max-lora-rank",),
]
FLOAT_FLAGS = [
    "--mem-fraction-static",
    "--swa-full-tokens-ratio",
    "--watchdog-timeout",
    "--schedule-conservativeness",
    "--speculative-accept-threshold-single",
    "--speculative-accept-threshold-acc",
    "--init-new-token-ratio",
    "--hicache-ratio",
]
STR_FLAGS = [
    ("--tokenizer-path",),
    ("--host",),
    ("--served-model-name",),
    ("--api-key",),
    ("--dist-init-addr",),
    ("--reasoning-parser",),
    ("--tool-call-parser",),
    ("--attention-backend",),
    ("--prefill-attention-backend",),
    ("--decode-attention-backend",),
    ("--sampling-backend",),
    ("--grammar-backend",),
    ("--quantization",),
    ("--load-format",),
    ("--download-dir",),
    ("--revision",),
    ("--device",),
    ("--log-level",),
    ("--log-level-http",),
    ("--chat-template",),
    ("--completion-template",),
    ("--json-model-override-args",),
    ("--speculative-draft-model-path",),
    ("--speculative-draft-model-revision",),
    ("--speculative-moe-runner-backend",),
    ("--moe-a2a-backend",),
    ("--model-loader-extra-config",),
    ("--file-storage-path",),
    ("--warmups",),
    ("--tool-server",),
    ("--nsa-prefill-backend",),
    ("--nsa-decode-backend",),
    ("--hf-token",),
    ("--weight-version",),
    ("--mm-attention-backend",),
    ("--ep-dispatch-algorithm",),
    ("--init-expert-location",),
]


def build_parser():
    parser = argparse.ArgumentParser(prog="launch_server.py", description="SGLang server (llmfleet engine emulator)")
    parser.add_argument(
        "--model-path",
        "--model",
        type=str,
        required=True,
        help="the path of the model weights (local folder or Hugging Face repo ID)",
    )
    parser.add_argument("--speculative-algorithm", type=str, choices=SPECULATIVE_ALGORITHMS, default=None)
    parser.add_argument("--moe-runner-backend", type=str, choices=MOE_RUNNER_BACKENDS, default="auto")
    parser.add_argument("--kv-cache-dtype", type=str, choices=KV_CACHE_DTYPES, default="auto")
    parser.add_argument("--dtype", type=str, choices=DTYPES, default="auto")
    parser.add_argument("--tokenizer-mode", type=str, choices=["auto", "slow"], default="auto")
    parser.add_argument(
        "--schedule-policy",
        type=str,
        choices=["lpm", "random", "fcfs", "dfs-weight", "lof", "priority"],
        default="fcfs",
    )
    parser.add_argument("--deepep-mode", type=str, choices=["normal", "low_latency", "auto"], default="auto")
    parser.add_argument("--disaggregation-mode", type=str, choices=["null", "prefill", "decode"], default="null")
    for names in INT_FLAGS:
        parser.add_argument(*names, type=int, default=None)
    for name in FLOAT_FLAGS:
        parser.add_argument(name, type=float, default=None)
    for names in STR_FLAGS:
        parser.add_argument(*names, type=str, default=None)
    for name in STORE_TRUE:
        parser.add_argument(name, action="store_true")
    # Every other flag of SGLang's own parser (the catalog the planner checks extra_args against).
    return add_catalog_flags(parser, "sglang")


def parse(argv, environ=None):
    """ServerSpec from `python3 -m sglang.launch_server ARGS`; exits 2 like argparse on errors."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mem_fraction_static is not None and not 0 < args.mem_fraction_static < 1:
        parser.error("argument --mem-fraction-static: must be in (0, 1), got %s" % args.mem_fraction_static)
    tp = 1 if args.tp_size is None else args.tp_size
    if tp < 1:
        parser.error("argument --tp-size/--tp: must be >= 1")
    port = 30000 if args.port is None else args.port
    if not 0 <= port <= 65535:
        parser.error("argument --port: %d is not a TCP port" % port)
    spec_tokens = 1
    if args.speculative_algorithm:
        if args.speculative_num_draft_tokens:
            spec_tokens = args.speculative_num_draft_tokens
        elif args.speculative_num_steps:
            spec_tokens = args.speculative_num_steps + 1
        else:
            spec_tokens = 4  # SGLang's automatic choice for DeepSeek models (3 steps, top-1, 4 drafts)
    return ServerSpec(
        engine="sglang",
        version=SGLANG_VERSION,
        model=args.model_path,
        served_names=[args.served_model_name or args.model_path],
        host=args.host or "127.0.0.1",
        port=port,
        api_keys=[args.api_key] if args.api_key else [],
        tensor_parallel_size=tp,
        reasoning_parser=args.reasoning_parser or "",
        tool_call_parser=args.tool_call_parser or "",
        auto_tool_choice=bool(args.tool_call_parser),
        spec_method=args.speculative_algorithm or "",
        spec_tokens=max(1, spec_tokens),
        max_model_len=args.context_length or default_context(args.model_path),
        max_batch=args.max_running_requests or 0,
        moe_backend=args.moe_runner_backend,
        enable_metrics=args.enable_metrics,
        env=engine_env(environ),
        args={k: v for k, v in vars(args).items() if k not in SECRET_ARGS and v is not None},
    )
