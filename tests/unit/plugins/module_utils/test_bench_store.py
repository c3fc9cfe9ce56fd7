"""Facts, Prometheus textfile, regression gate and engine-result normalisation."""

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_store import (
    build_fact,
    normalize_engine_result,
    prometheus_textfile,
    regression_check,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError

# Figures of the seed's B200 SGLang+EAGLE table, in vLLM's result names.
SEED_B200 = {
    "backend": "openai-chat",
    "model_id": "deepseek-ai/DeepSeek-V4-Flash",
    "num_prompts": 512,
    "max_concurrency": 32,
    "request_rate": "inf",
    "completed": 512,
    "failed": 0,
    "duration": 429.1,
    "request_throughput": 1.19,
    "output_throughput": 1222.0,
    "total_token_throughput": 11000.0,
    "max_output_tokens_per_s": 1400.0,
    "mean_ttft_ms": 1701.0,
    "median_ttft_ms": 900.0,
    "p99_ttft_ms": 20886.0,
    "mean_tpot_ms": 24.2,
    "median_tpot_ms": 23.0,
    "p99_tpot_ms": 51.6,
    "mean_itl_ms": 65.5,
    "median_itl_ms": 60.0,
    "p99_itl_ms": 559.0,
    "mean_e2el_ms": 26500.0,
    "median_e2el_ms": 26000.0,
    "p99_e2el_ms": 45000.0,
    "llmfleet": {"valid": True},
}
LABELS = {"host": "b200-node", "plan_hash": "abc123", "image": "lmsysorg/sglang:deepseek-v4-blackwell"}


def test_fact_keeps_the_figures_and_what_they_were_measured_on():
    fact = build_fact(SEED_B200, LABELS, 1700000000.0)
    assert fact["output_throughput"] == 1222.0
    assert fact["p99_ttft_ms"] == 20886.0 and fact["mean_itl_ms"] == 65.5
    assert fact["plan_hash"] == "abc123" and fact["host"] == "b200-node"
    assert fact["valid"] is True and fact["time"] == 1700000000.0
    assert fact["settings"]["max_concurrency"] == 32


def test_prometheus_textfile_is_well_formed_and_in_seconds():
    text = prometheus_textfile(SEED_B200, LABELS, 1700000000.0)
    assert text.endswith("\n")
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    for line in samples:
        name, value = line.rsplit(" ", 1)
        float(value)
        assert name.startswith("llmfleet_benchmark_") and name.endswith("}")
    assert (
        'llmfleet_benchmark_output_throughput_tokens_per_second'
        '{host="b200-node",image="lmsysorg/sglang:deepseek-v4-blackwell",plan_hash="abc123"} 1222.0'
    ) in samples
    assert any(
        s.startswith("llmfleet_benchmark_ttft_seconds{") and 'stat="p99"' in s and s.endswith(" 20.886")
        for s in samples
    )
    # Each metric family is declared once.
    types = [line for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))


def test_label_values_are_escaped():
    text = prometheus_textfile(SEED_B200, {"host": 'a"b\\c'}, 1.0)
    assert 'host="a\\"b\\\\c"' in text


@pytest.mark.parametrize(
    "throughput,p99_ttft,passed",
    [
        (1222.0, 20886.0, True),  # unchanged
        (1150.0, 20886.0, True),  # -5.9 %: within 10 %
        (1000.0, 20886.0, False),  # -18 %: throughput regression
        (1222.0, 25000.0, False),  # +19.7 % p99 TTFT
        (1500.0, 15000.0, True),  # better on both
    ],
)
def test_regression_gate(throughput, p99_ttft, passed):
    current = dict(SEED_B200, output_throughput=throughput, p99_ttft_ms=p99_ttft)
    verdict = regression_check(current, SEED_B200, 10.0)
    assert verdict["checked"] is True
    assert verdict["passed"] is passed
    if not passed:
        assert "threshold 10.0%" in verdict["message"]


def test_regression_gate_without_baseline_or_threshold_passes_and_says_why():
    assert regression_check(SEED_B200, None, 10.0)["message"].startswith("no previous result")
    assert regression_check(SEED_B200, SEED_B200, None)["checked"] is False


def test_sglang_result_is_renamed_to_vllm_names():
    raw = {
        "backend": "sglang-oai-chat",
        "completed": 500,
        "num_prompts": 512,
        "duration": 400.0,
        "total_input_tokens": 4096000,
        "total_output_tokens": 512000,
        "output_throughput": 1280.0,
        "mean_ttft_ms": 2463.0,
        "p99_ttft_ms": 32221.0,
        "mean_e2e_latency_ms": 30000.0,
        "p99_e2e_latency_ms": 50000.0,
    }
    result = normalize_engine_result(raw, "sglang")
    assert result["mean_e2el_ms"] == 30000.0 and "mean_e2e_latency_ms" not in result
    assert result["failed"] == 12
    assert result["total_token_throughput"] == pytest.approx((4096000 + 512000) / 400.0)
    assert result["llmfleet"]["driver"] == "engine"


def test_engine_result_missing_fields_is_refused_with_the_command_to_use():
    with pytest.raises(BenchmarkError, match="vllm bench serve --save-result"):
        normalize_engine_result({"completed": 3}, "vllm")
