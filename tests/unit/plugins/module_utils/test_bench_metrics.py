"""Benchmark metric math: numpy-identical statistics and vLLM's definitions on synthetic timelines."""

import json
import math

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_metrics as m
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_config import normalize_config
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_result import build_result

# --- statistics: values worked out by hand (numpy 2.x gives the same, bit for bit) -------------------


def test_mean_uses_numpy_pairwise_summation():
    # numpy sums 8 values as ((a+b)+(c+d))+((e+f)+(g+h)): 4.0 here, where a running sum gives 3.0
    # and an exact sum 6.0. np.mean(values) is 0.5.
    values = [1e16, 1.0, 1.0, 1.0, -1e16, 1.0, 1.0, 1.0]
    assert m.np_mean(values) == 0.5
    assert math.fsum(values) / 8 == 0.75  # what an "accurate" mean would report instead


def test_std_is_population_std():
    assert m.np_std([1, 2, 3, 4]) == 1.118033988749895  # sqrt(5/4), ddof=0
    assert m.np_std([5.0]) == 0.0


def test_median_even_and_odd():
    assert m.np_median([4, 1, 3, 2]) == 2.5
    assert m.np_median([3, 1, 2]) == 2.0


@pytest.mark.parametrize(
    "values, p, expected",
    [
        ([1, 2, 3, 4], 90, 3.7),  # index 2.7: 3 + 0.7 * (4 - 3)
        ([1, 2, 3, 4], 50, 2.5),
        ([10.0, 20.0, 30.0], 25, 15.0),  # index 0.5
        ([10.0, 20.0, 30.0], 100, 30.0),
        ([10.0, 20.0, 30.0], 0, 10.0),
        ([7.0], 99, 7.0),
    ],
)
def test_percentile_linear_interpolation(values, p, expected):
    assert m.np_percentile(values, p) == expected


def test_percentile_times_1000_matches_numpy_rounding():
    # np.percentile([0.01, ..., 0.05], 99) * 1000 == 49.60000000000001 (not 49.6)
    assert m.np_percentile([0.01, 0.02, 0.03, 0.04, 0.05], 99) * 1000 == 49.60000000000001


def test_empty_series_report_zero_as_vllm():
    # vLLM writes np.mean(x or 0): a metric without samples is 0, not NaN
    assert m.describe([], [50, 99]) == {"mean": 0.0, "median": 0.0, "std": 0.0, "p50": 0.0, "p99": 0.0}


def test_percentile_names_as_vllm():
    assert m.percentile_key(99.0) == "99"
    assert m.percentile_key(99.9) == "99.9"


# --- vLLM's definitions on a synthetic timeline ----------------------------------------------------


def _rec(
    index,
    start,
    ttft,
    itl,
    out_tokens,
    expected_out,
    prompt=100,
    expected_prompt=97,
    chars=None,
    finish="length",
    success=True,
    error="",
):
    rec = m.RequestRecord(index, "r%d" % index, expected_prompt, expected_out)
    rec.success = success
    rec.error = error
    rec.arrival_time = 0.0
    rec.start_time = start
    rec.ttft = ttft
    rec.itl = list(itl)
    rec.latency = ttft + sum(itl)
    rec.end_time = start + rec.latency
    rec.output_tokens = out_tokens
    rec.prompt_len = prompt
    rec.finish_reason = finish
    rec.chunk_chars = chars if chars is not None else [1] * (1 + len(itl))
    if chars:
        first = next((i for i, c in enumerate(chars) if c), None)
        rec.ttft_content = None if first is None else ttft + sum(itl[:first])
    else:
        rec.ttft_content = ttft
    return rec


@pytest.fixture
def timeline():
    # A: empty role chunk at 0.10, then chunks of 1, 1 and 4 tokens (speculative decoding) -> 6 tokens
    a = _rec(0, start=0.0, ttft=0.1, itl=[0.02, 0.02, 0.06], out_tokens=6, expected_out=6, chars=[0, 1, 1, 4])
    # B: failed with HTTP 500
    b = _rec(
        1,
        start=0.0,
        ttft=0.0,
        itl=[],
        out_tokens=None,
        expected_out=6,
        success=False,
        error="HTTP 500 Internal Server Error",
    )
    b.latency = 0.0
    # C: a single output token, arriving at 1.05 s
    c = _rec(2, start=0.15, ttft=0.9, itl=[], out_tokens=1, expected_out=1)
    return [a, b, c]


def test_metrics_on_timeline(timeline):
    res, output_lens = m.calculate_metrics(timeline, duration=2.0, percentiles=[50, 99])
    assert output_lens == [6, 0, 1]
    assert (res["completed"], res["failed"]) == (2, 1)
    assert res["total_output_tokens"] == 7
    assert res["total_input_tokens"] == 200  # usage.prompt_tokens of the successful requests
    assert res["output_throughput"] == 3.5
    assert res["request_throughput"] == 1.0
    assert res["total_token_throughput"] == 103.5
    # TTFT over successful requests only: 100 ms and 900 ms
    assert res["mean_ttft_ms"] == pytest.approx(500.0)
    assert res["median_ttft_ms"] == pytest.approx(500.0)
    # TPOT = (latency - ttft) / (tokens - 1) = 0.1 / 5; the single-token request has none
    assert res["mean_tpot_ms"] == pytest.approx(20.0)
    assert res["p99_tpot_ms"] == pytest.approx(20.0)
    # ITL: one entry per chunk, not per token -> 20, 20, 60 ms (ITL > TPOT under speculative decoding)
    assert res["mean_itl_ms"] == pytest.approx(100.0 / 3)
    assert res["median_itl_ms"] == pytest.approx(20.0)
    # E2EL = last choices message - start: 200 ms and 900 ms
    assert res["mean_e2el_ms"] == pytest.approx(550.0)
    assert res["request_goodput"] is None


def test_peak_tokens_and_concurrency_as_vllm(timeline):
    res, dummy = m.calculate_metrics(timeline, duration=2.0)
    # A's 4 messages fall in second 0, C's one in second 1: vLLM counts messages per 1 s bucket
    assert res["max_output_tokens_per_s"] == 4.0
    # A [0, 0.2) overlaps C [0.15, 1.05)
    assert res["max_concurrent_requests"] == 2
    # released vLLM counts requests per 1 s bucket: A and C in second 0, C again in second 1
    assert m.llmfleet_additions(timeline)["max_concurrent_requests_per_second_bucket"] == 2
    back_to_back = [_rec(i, start=0.1 * i, ttft=0.05, itl=[0.01], out_tokens=2, expected_out=2) for i in range(5)]
    assert m.calculate_metrics(back_to_back, 1.0)[0]["max_concurrent_requests"] == 1
    assert m.llmfleet_additions(back_to_back)["max_concurrent_requests_per_second_bucket"] == 5


def test_goodput_counts_requests_meeting_every_slo(timeline):
    res, dummy = m.calculate_metrics(timeline, duration=2.0, goodput={"ttft": 150})
    assert res["request_goodput"] == 0.5  # only A (100 ms) meets 150 ms
    res, dummy = m.calculate_metrics(timeline, duration=2.0, goodput={"ttft": 1000, "tpot": 10})
    # C's TPOT counts as 0 (one token) and passes; A's 20 ms fails 10 ms
    assert res["request_goodput"] == 0.5
    res, dummy = m.calculate_metrics(timeline, duration=2.0, goodput={"e2el": 1000, "tpot": 25})
    assert res["request_goodput"] == 1.0


def test_token_weighted_itl_spreads_a_chunk_over_its_tokens(timeline):
    a = timeline[0]
    # the role chunk carries nothing; the 1-token chunk at 0.12 s ends the TTFT; then 20 ms for one
    # token and 60 ms for four tokens -> 15 ms each
    assert m.token_weighted_itls(a) == pytest.approx([0.02, 0.015, 0.015, 0.015, 0.015])
    extra = m.llmfleet_additions(timeline, [50])
    assert extra["mean_itl_token_weighted_ms"] == pytest.approx(16.0)
    # first non-empty content at 0.12 s (vLLM's TTFT counts the empty role chunk at 0.10 s)
    assert extra["median_ttft_content_ms"] == pytest.approx((120.0 + 900.0) / 2)


def test_exact_chunk_tokens_from_continuous_usage_win_over_estimates(timeline):
    a = timeline[0]
    a.chunk_tokens = [0, 2, 1, 3]
    assert m.chunk_token_counts(a) == [0, 2, 1, 3]


def test_record_round_trip():
    rec = _rec(3, 1.0, 0.2, [0.1], 2, 2)
    again = m.RequestRecord.from_dict(rec.to_dict())
    assert again.to_dict() == rec.to_dict()


# --- contract checks -------------------------------------------------------------------------------


def test_contract_valid_with_constant_chat_template_overhead(timeline):
    out = m.contract_checks(timeline)
    assert out["valid"], out["invalid_reasons"]
    assert out["prompt_template_overhead"] == 3
    assert out["checked"] == 2


def test_contract_catches_early_stop():
    recs = [_rec(i, 0.0, 0.1, [0.01] * 9, 10, 10) for i in range(4)]
    recs[2].output_tokens = 7
    recs[2].finish_reason = "stop"
    out = m.contract_checks(recs)
    assert not out["valid"]
    assert out["counts"]["completion_tokens"] == 1 and out["counts"]["finish_reason"] == 1
    assert any("completion_tokens 7 != requested 10" in r and "request 2" in r for r in out["invalid_reasons"])
    assert out["invalid_requests"][0]["index"] == 2


def test_contract_catches_ignored_ignore_eos_finish_reason():
    recs = [_rec(i, 0.0, 0.1, [0.01], 2, 2, finish="stop") for i in range(3)]
    out = m.contract_checks(recs)
    assert not out["valid"]
    assert "finish_reason" in out["invalid_reasons"][0] and "'stop'" in out["invalid_reasons"][0]


def test_contract_without_ignore_eos_accepts_natural_stops():
    recs = [_rec(i, 0.0, 0.1, [0.01], 2, 5, finish="stop") for i in range(3)]
    assert m.contract_checks(recs, check_output=False)["valid"]


def test_contract_catches_wrong_prompt_length():
    recs = [_rec(i, 0.0, 0.1, [0.01], 2, 2) for i in range(5)]
    recs[4].prompt_len = 60  # 97 requested + 3 template tokens elsewhere
    out = m.contract_checks(recs)
    assert not out["valid"]
    assert "prompt_tokens 60 != requested 97 + chat-template overhead 3" in out["invalid_reasons"][0]


def test_contract_rejects_an_implausible_overhead():
    recs = [_rec(i, 0.0, 0.1, [0.01], 2, 2, prompt=500, expected_prompt=97) for i in range(3)]
    out = m.contract_checks(recs, max_template_overhead=64)
    assert not out["valid"]
    assert "403 tokens" in " ".join(out["invalid_reasons"])


def test_contract_approximate_prompt_lengths_use_a_tolerance():
    recs = [_rec(i, 0.0, 0.1, [0.01], 2, 2, prompt=1000 + i, expected_prompt=1000) for i in range(3)]
    assert m.contract_checks(recs, prompt_len_exact=False)["valid"]
    recs[0].prompt_len = 1500
    assert not m.contract_checks(recs, prompt_len_exact=False)["valid"]


def test_failure_summary_groups_errors(timeline):
    timeline.append(_rec(3, 0.0, 0.0, [], None, 6, success=False, error="HTTP 500 Internal Server Error\nbody"))
    groups = m.failure_summary(timeline)
    assert groups == [{"error": "HTTP 500 Internal Server Error", "count": 2, "first_requests": [1, 3]}]


# --- the result file -------------------------------------------------------------------------------

VLLM_FIELDS = (
    "date",
    "endpoint_type",
    "backend",
    "label",
    "model_id",
    "tokenizer_id",
    "num_prompts",
    "request_rate",
    "burstiness",
    "max_concurrency",
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "request_goodput",
    "output_throughput",
    "total_token_throughput",
    "latencies",
    "queue_times",
    "max_output_tokens_per_s",
    "max_concurrent_requests",
) + tuple("%s_%s_ms" % (s, n) for s in ("mean", "median", "std", "p99") for n in ("ttft", "tpot", "itl", "e2el"))
DETAILED = ("input_lens", "output_lens", "ttfts", "itls", "start_times", "errors")


def _cfg(**extra):
    cfg = {
        "base_url": "http://127.0.0.1:8000",
        "served_model_name": "deepseek",
        "model_id": "deepseek-ai/DeepSeek-V4-Flash",
        "num_prompts": 3,
        "max_concurrency": 32,
    }
    cfg.update(extra)
    return normalize_config(cfg)


def test_result_uses_vllm_field_names(timeline):
    res = build_result(_cfg(), timeline, 0.0, [])
    missing = [k for k in VLLM_FIELDS if k not in res]
    assert not missing
    assert res["request_rate"] == "inf"
    assert res["tokenizer_id"] == "deepseek-ai/DeepSeek-V4-Flash"
    assert all("p%s_ttft_ms" % p in res for p in ("50", "90", "99"))
    assert not any(k in res for k in DETAILED + ("generated_texts",))  # as vLLM without --save-detailed
    json.dumps(res, allow_nan=False)  # a strict JSON file: no NaN, no Infinity


def test_detailed_result_keeps_per_request_arrays(timeline):
    res = build_result(_cfg(save_detailed=True), timeline, 0.0, [])
    assert all(k in res for k in DETAILED)
    assert res["output_lens"] == [6, 0, 1]
    assert res["errors"] == ["", "HTTP 500 Internal Server Error", ""]
    assert res["itls"][0] == [0.02, 0.02, 0.06]
    assert "generated_texts" not in res
    res = build_result(_cfg(save_detailed=True, save_generated_texts=True), timeline, 0.0, [])
    assert res["generated_texts"] == ["", "", ""]


def test_result_additions_documented(timeline):
    ours = build_result(_cfg(), timeline, 0.0, [])["llmfleet"]
    assert ours["valid"] is True
    for key in ("ttft_content", "itl_token_weighted", "client_queue_time", "valid", "client"):
        assert key in ours["definitions"]
    assert "p99_itl_token_weighted_ms" in ours and "mean_client_queue_time_ms" in ours
