"""Nonsense benchmark parameters are refused with a message naming the parameter."""

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_client import run_benchmark
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_config import normalize_config
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError

BASE = {"base_url": "http://127.0.0.1:8000", "served_model_name": "deepseek"}


@pytest.mark.parametrize(
    "change, words",
    [
        ({"random_input_len": -5}, ["random_input_len", "-5", "at least 1"]),
        ({"random_output_len": 0}, ["random_output_len", "at least 1"]),
        ({"num_prompts": 0}, ["num_prompts", "at least 1"]),
        ({"max_concurrency": 0}, ["max_concurrency", "at least 1", "omitted for no limit"]),
        ({"max_concurrency": -3}, ["max_concurrency"]),
        ({"request_rate": 0}, ["request_rate", "positive", "'inf'"]),
        ({"request_rate": "fast"}, ["request_rate", "'fast'"]),
        ({"burstiness": 0}, ["burstiness", "positive"]),
        ({"random_range_ratio": 1.0}, ["random_range_ratio", "[0, 1)"]),
        ({"num_warmups": -1}, ["num_warmups", "at least 0"]),
        ({"workers": 0}, ["workers", "at least 1"]),
        ({"request_timeout": 0}, ["request_timeout", "positive"]),
        ({"metric_percentiles": [50, 101]}, ["metric_percentiles", "between 0 and 100"]),
        ({"percentile_metrics": "ttft,latency"}, ["percentile_metrics", "ttft, tpot, itl, e2el"]),
        ({"goodput": {"itl": 50}}, ["goodput key 'itl'"]),
        ({"goodput": {"ttft": -1}}, ["goodput.ttft", "non-negative"]),
        ({"base_url": "10.0.0.5:8000"}, ["base_url", "http://"]),
        ({"base_url": "http://10.0.0.5:8000/v1"}, ["base_url", "/v1"]),
        ({"endpoint": "/v1/completions"}, ["endpoint", "chat completions"]),
        ({"served_model_name": None}, ["served_model_name", "required"]),
        ({"dataset_name": "sharegpt"}, ["dataset_name", "random"]),
        ({"max_batch": 4}, ["unknown option", "max_batch"]),
    ],
)
def test_bad_parameter_is_named(change, words):
    config = dict(BASE, **change)
    with pytest.raises(BenchmarkError) as err:
        normalize_config(config)
    for word in words:
        assert word in str(err.value)


def test_all_problems_reported_at_once():
    with pytest.raises(BenchmarkError) as err:
        normalize_config(dict(BASE, random_input_len=-1, max_concurrency=0))
    assert "random_input_len" in str(err.value) and "max_concurrency" in str(err.value)


def test_run_refuses_before_sending_anything():
    # the address is never contacted: validation comes first
    with pytest.raises(BenchmarkError, match="random_output_len"):
        run_benchmark(dict(BASE, base_url="http://192.0.2.1:9", random_output_len=-1))


def test_defaults_and_aliases():
    cfg = normalize_config(
        {
            "base_url": "http://h:8000/",
            "model": "deepseek",
            "request_rate": "inf",
            "metric_percentiles": "50,99.9",
            "goodput": ["ttft:500", "tpot:50"],
        }
    )
    assert cfg["base_url"] == "http://h:8000"
    assert cfg["served_model_name"] == cfg["model_id"] == cfg["tokenizer_id"] == "deepseek"
    assert cfg["request_rate"] == float("inf")
    assert cfg["metric_percentiles"] == [50.0, 99.9]
    assert cfg["goodput"] == {"ttft": 500.0, "tpot": 50.0}
    assert cfg["request_id_prefix"].startswith("llmfleet-bench-")
