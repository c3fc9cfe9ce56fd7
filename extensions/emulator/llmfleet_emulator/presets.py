"""Timing presets, how one is chosen from the command line, and the EMULATOR_* overrides.

The three calibrated presets reproduce the seed guide's benchmark tables (8192 in / 1024 out,
512 prompts, 32 concurrent, ``vllm bench serve``) when ``simulate.py`` (or a real client) runs
that workload against them; ``SEED_TABLES`` holds the published numbers they were fitted to.
The others are derived from those by stated assumptions and are not calibrated.
"""

from __future__ import annotations

import dataclasses
import math
import os


@dataclasses.dataclass
class TimingParams:
    name: str
    prefill_tokens_per_s: float  # prompt tokens per second through the (single) prefill queue
    ttft_overhead_s: float  # fixed per-request time before the engine sees it (tokenize, schedule)
    ttft_overhead_jitter: float  # relative, uniform +/-
    decode_step_base_s: float  # decode step time = base + per_seq * sequences decoding
    decode_step_per_seq_s: float
    step_jitter: float  # relative, uniform +/- per step
    prefill_stall_fraction: float  # share of a running prefill's time that decode loses (1 = stops)
    new_batch_bucket_jit_s: float  # one-off pause when the decode batch reaches a new 2^k size
    max_batch: int  # sequences held at once; more wait (num_requests_waiting)
    spec_tokens: int  # most tokens one step can yield (1 = no speculative decoding)
    spec_accept_mean: float  # mean tokens per step under speculative decoding
    spec_accept_spread: float  # per-request acceptance varies by +/- this share
    kv_capacity_tokens: int  # for vllm:kv_cache_usage_perc only
    calibrated: bool = False
    description: str = ""

    def is_timeless(self):
        return (
            (self.prefill_tokens_per_s <= 0 or math.isinf(self.prefill_tokens_per_s))
            and self.ttft_overhead_s == 0
            and self.decode_step_base_s == 0
            and self.decode_step_per_seq_s == 0
        )


# Published figures of the seed guide, per preset (ms and tokens/s).
SEED_TABLES = {
    "b200-sglang-eagle": {
        "output_throughput": 1222,
        "total_token_throughput": 11000,
        "mean_ttft_ms": 1701,
        "p99_ttft_ms": 20886,
        "mean_tpot_ms": 24.2,
        "p99_tpot_ms": 51.6,
        "mean_itl_ms": 65.5,
        "p99_itl_ms": 559.0,
    },
    "h100-sglang-eagle": {
        "output_throughput": 1262,
        "total_token_throughput": 11361,
        "mean_ttft_ms": 2463,
        "p99_ttft_ms": 32221,
        "mean_tpot_ms": 22.7,
        "p99_tpot_ms": 54.9,
        "mean_itl_ms": 60.3,
        "p99_itl_ms": 624.4,
    },
    "b200-vllm": {
        "output_throughput": 1469,
        "total_token_throughput": 13217,
        "mean_ttft_ms": 1452,
        "p99_ttft_ms": 10085,
        "mean_tpot_ms": 20.4,
        "p99_tpot_ms": 28.5,
        "mean_itl_ms": 20.3,
        "p99_itl_ms": 175.9,
    },
}
SEED_WORKLOAD = {"input_len": 8192, "output_len": 1024, "num_prompts": 512, "max_concurrency": 32}

_BIG_KV = 4_000_000  # V4's compressed KV: the seed's workload never fills it

PRESETS = {
    "b200-sglang-eagle": TimingParams(
        name="b200-sglang-eagle",
        prefill_tokens_per_s=14113.0,
        ttft_overhead_s=0.2135,
        ttft_overhead_jitter=0.5,
        decode_step_base_s=0.012822,
        decode_step_per_seq_s=0.00032784,
        step_jitter=0.2,
        prefill_stall_fraction=0.955,
        new_batch_bucket_jit_s=1.2685,
        max_batch=256,
        spec_tokens=4,
        spec_accept_mean=2.787,
        spec_accept_spread=0.2407,
        kv_capacity_tokens=_BIG_KV,
        calibrated=True,
        description="8 x B200, SGLang, native FP4+FP8 build, EAGLE 3/1/4 (seed table 1)",
    ),
    "h100-sglang-eagle": TimingParams(
        name="h100-sglang-eagle",
        prefill_tokens_per_s=13269.0,
        ttft_overhead_s=0.5371,
        ttft_overhead_jitter=0.5,
        decode_step_base_s=0.009537,
        decode_step_per_seq_s=0.00024384,
        step_jitter=0.2,
        prefill_stall_fraction=0.969,
        new_batch_bucket_jit_s=1.315,
        max_batch=256,
        spec_tokens=4,
        spec_accept_mean=2.736,
        spec_accept_spread=0.3025,
        kv_capacity_tokens=_BIG_KV,
        calibrated=True,
        description="8 x H100, SGLang, FP8 build, EAGLE 3/1/4 (seed table 2)",
    ),
    "b200-vllm": TimingParams(
        name="b200-vllm",
        prefill_tokens_per_s=23035.0,
        ttft_overhead_s=0.074,
        ttft_overhead_jitter=0.5,
        decode_step_base_s=0.006036,
        decode_step_per_seq_s=0.0001543,
        step_jitter=0.1,
        prefill_stall_fraction=0.933,
        new_batch_bucket_jit_s=1.644,
        max_batch=1024,
        spec_tokens=1,
        spec_accept_mean=1.0,
        spec_accept_spread=0.0,
        kv_capacity_tokens=_BIG_KV,
        calibrated=True,
        description="8 x B200, vLLM, native FP4+FP8 build, no speculative decoding (seed table 3)",
    ),
    "fast": TimingParams(
        name="fast",
        prefill_tokens_per_s=math.inf,
        ttft_overhead_s=0.0,
        ttft_overhead_jitter=0.0,
        decode_step_base_s=0.0,
        decode_step_per_seq_s=0.0,
        step_jitter=0.0,
        prefill_stall_fraction=0.0,
        new_batch_bucket_jit_s=0.0,
        max_batch=1_000_000,
        spec_tokens=1,
        spec_accept_mean=1.0,
        spec_accept_spread=0.0,
        kv_capacity_tokens=_BIG_KV,
        description="no model time at all: every chunk is sent as soon as the event loop can (client-ceiling tests)",
    ),
}


def _derive():
    # Without a draft model a step only verifies one token: we take it as 60 % of an EAGLE
    # 4-token verify step (an assumption, not a measurement).
    for hw in ("b200", "h100"):
        base = PRESETS[hw + "-sglang-eagle"]
        PRESETS[hw + "-sglang"] = dataclasses.replace(
            base,
            name=hw + "-sglang",
            calibrated=False,
            spec_tokens=1,
            spec_accept_mean=1.0,
            decode_step_base_s=base.decode_step_base_s * 0.6,
            decode_step_per_seq_s=base.decode_step_per_seq_s * 0.6,
            description=(
                base.description.split(",", maxsplit=1)[0]
                + ", SGLang without speculative decoding (derived from the EAGLE preset, not calibrated)"
            ),
        )
    # vLLM's MTP (2 speculative tokens, recipe): steps 20 % longer, 2.2 tokens per step on average
    # (assumptions, not measurements).
    base = PRESETS["b200-vllm"]
    PRESETS["b200-vllm-mtp"] = dataclasses.replace(
        base,
        name="b200-vllm-mtp",
        calibrated=False,
        spec_tokens=3,
        spec_accept_mean=2.2,
        spec_accept_spread=0.25,
        decode_step_base_s=base.decode_step_base_s * 1.2,
        decode_step_per_seq_s=base.decode_step_per_seq_s * 1.2,
        description="8 x B200, vLLM with MTP speculative decoding (derived from b200-vllm, not calibrated)",
    )


_derive()

# Field -> environment variable that overrides it.
OVERRIDABLE = {
    f.name: "EMULATOR_" + f.name.upper()
    for f in dataclasses.fields(TimingParams)
    if f.name not in ("name", "calibrated", "description")
}


class PresetError(ValueError):
    pass


def choose_preset(spec):
    """Preset name and the reason, from the engine's command line (``spec``: a ServerSpec)."""
    if spec.engine == "sglang":
        signals = []
        if "fp8" in spec.model.lower():
            signals.append("the FP8 build " + spec.model)
        if spec.env.get("SGLANG_DSV4_FP4_EXPERTS") == "0":
            signals.append("SGLANG_DSV4_FP4_EXPERTS=0")
        if spec.moe_backend == "marlin":
            signals.append("--moe-runner-backend marlin")
        if spec.tensor_parallel_size >= 8 and spec.moe_backend != "flashinfer_mxfp4" and signals:
            signals.append("--tp %d" % spec.tensor_parallel_size)
        hw = "h100" if signals else "b200"
        why = ("Hopper: " + ", ".join(signals)) if signals else "Blackwell (native build, no Hopper sign)"
        if spec.spec_tokens > 1:
            return hw + "-sglang-eagle", "%s; speculative decoding %s with %d draft tokens" % (
                why,
                spec.spec_method,
                spec.spec_tokens,
            )
        return hw + "-sglang", why + "; no speculative decoding"
    if spec.spec_tokens > 1:
        return "b200-vllm-mtp", "vLLM with speculative decoding (%s, %d tokens per step at most)" % (
            spec.spec_method,
            spec.spec_tokens,
        )
    return "b200-vllm", "vLLM without speculative decoding (Hopper and Blackwell look alike here)"


def resolve(spec, environ=None):
    """The TimingParams for ``spec`` after EMULATOR_PRESET and per-field overrides, and the reason."""
    environ = os.environ if environ is None else environ
    wanted = environ.get("EMULATOR_PRESET", "auto").strip() or "auto"
    if wanted == "auto":
        name, reason = choose_preset(spec)
        reason = "auto: " + reason
    elif wanted in PRESETS:
        name, reason = wanted, "EMULATOR_PRESET=" + wanted
    else:
        raise PresetError(
            "EMULATOR_PRESET=%r is not a preset; use auto or one of: %s" % (wanted, ", ".join(sorted(PRESETS)))
        )
    params = PRESETS[name]
    changes = {}
    if wanted == "auto" and params.spec_tokens > 1:
        # The command line says how many tokens a step can yield; the preset, how many it keeps.
        changes["spec_tokens"] = spec.spec_tokens
    if spec.max_batch:
        changes["max_batch"] = spec.max_batch
    for field, var in OVERRIDABLE.items():
        if var in environ:
            raw = environ[var]
            kind = type(getattr(params, field))
            try:
                changes[field] = kind(float(raw)) if kind is int else kind(raw)
            except ValueError:
                raise PresetError("%s=%r is not a number" % (var, raw)) from None
            if changes[field] < 0:
                raise PresetError("%s=%r must not be negative" % (var, raw))
            reason += "; " + var + "=" + raw
    if changes:
        params = dataclasses.replace(params, **changes)
    return params, reason
