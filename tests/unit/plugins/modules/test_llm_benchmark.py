"""llm_benchmark end to end against the engine emulator (a real HTTP server on 127.0.0.1).

The emulator stands in for the engine's inference (the edge we cannot run here); the module's
argument handling, the load generator, the metrics, facts and files all run for real.
"""

import json
import sys

import pytest
from helpers.module_runner import run_module
from helpers.paths import ROOT

from ansible_collections.llmfleet.serving.plugins.modules import llm_benchmark

sys.path.insert(0, str(ROOT / "extensions" / "bench"))
from llmfleet_bench.emulator import Emulator  # noqa: E402

SMALL = {
    "served_model_name": "deepseek",
    "model_id": "deepseek-ai/DeepSeek-V4-Flash",
    "random_input_len": 128,
    "random_output_len": 16,
    "num_prompts": 12,
    "max_concurrency": 4,
    "num_warmups": 0,
    "request_timeout": 30,
}
LABELS = {"host": "b200-node", "plan_hash": "0123abcd", "image": "vllm/vllm-openai:deepseekv4-cu130"}


@pytest.fixture(scope="module")
def server():
    with Emulator(env={"EMULATOR_PRESET": "fast"}) as emu:
        yield emu


def test_run_returns_result_fact_textfile_and_writes_the_json(server, tmp_path):
    path = tmp_path / "results" / "b200-node.json"
    out = run_module(llm_benchmark, dict(SMALL, base_url=server.base_url, labels=LABELS, result_path=str(path)))
    assert out["changed"] is True
    result = out["result"]
    assert result["completed"] == 12 and result["failed"] == 0
    assert result["total_output_tokens"] == 12 * 16
    assert result["llmfleet"]["valid"] is True
    assert json.loads(path.read_text())["completed"] == 12
    fact = out["fact"]
    assert fact["plan_hash"] == "0123abcd" and fact["host"] == "b200-node" and fact["model"] == "deepseek"
    assert fact["output_throughput"] == pytest.approx(result["output_throughput"])
    assert 'llmfleet_benchmark_output_throughput_tokens_per_second{host="b200-node"' in out["prometheus"]
    assert "Serving Benchmark Result" in out["summary"]
    assert out["regression"]["checked"] is False


def test_check_mode_sends_nothing_and_masks_the_key(tmp_path):
    # Nothing listens on this port: check mode must not try to connect.
    out = run_module(
        llm_benchmark,
        dict(SMALL, base_url="http://127.0.0.1:9", api_key="sk-secret-value", result_path=str(tmp_path / "r.json")),
        check_mode=True,
    )
    assert out["changed"] is False and "not run" in out["msg"]
    assert "sk-secret-value" not in json.dumps(out)
    assert not (tmp_path / "r.json").exists()


def test_regression_gate_fails_against_a_much_faster_baseline(server):
    baseline = {"output_throughput": 1e9, "p99_ttft_ms": 0.001}
    out = run_module(
        llm_benchmark,
        dict(SMALL, base_url=server.base_url, baseline=baseline, regression_threshold_pct=10),
        expect_failure=True,
    )
    assert out["msg"].startswith("Benchmark regression: output throughput (tok/s) went from")
    assert out["regression"]["passed"] is False


def test_server_that_stops_early_fails_as_invalid_workload():
    with Emulator(env={"EMULATOR_PRESET": "fast", "EMULATOR_FAULT_STOP_EARLY": "5"}) as emu:
        out = run_module(llm_benchmark, dict(SMALL, base_url=emu.base_url), expect_failure=True)
    assert "did not measure the requested workload" in out["msg"]
    assert out["result"]["llmfleet"]["valid"] is False


def test_no_successful_request_fails_without_a_fact():
    with Emulator(env={"EMULATOR_PRESET": "fast", "EMULATOR_FAULT_HTTP500_FRACTION": "1.0"}) as emu:
        out = run_module(llm_benchmark, dict(SMALL, base_url=emu.base_url), expect_failure=True)
    assert "fact" not in out
    assert "500" in out["msg"]
    # the partial result the client raised with reaches the task: what failed, and how
    assert out["result"]["completed"] == 0 and out["result"]["failed"] == SMALL["num_prompts"]
    assert "500" in out["result"]["llmfleet"]["failures"][0]["error"]


def test_engine_result_without_a_success_fails_with_that_result():
    engine_json = {
        "backend": "openai-chat",
        "num_prompts": 4,
        "completed": 0,
        "failed": 4,
        "duration": 1.0,
        "output_throughput": 0.0,
        "mean_ttft_ms": 0.0,
        "p99_ttft_ms": 0.0,
        "errors": ["", "HTTP 503 Service Unavailable"],
    }
    out = run_module(
        llm_benchmark,
        {
            "base_url": "http://127.0.0.1:8000",
            "served_model_name": "deepseek",
            "driver": "engine",
            "engine": "vllm",
            "engine_result": engine_json,
        },
        expect_failure=True,
    )
    assert "No request succeeded (4 failed)" in out["msg"] and "HTTP 503" in out["msg"]
    assert out["result"]["failed"] == 4


@pytest.mark.parametrize("option,value", [("num_prompts", 0), ("max_concurrency", 0), ("random_input_len", -5)])
def test_nonsense_parameters_are_refused_by_name(option, value):
    out = run_module(llm_benchmark, dict(SMALL, base_url="http://127.0.0.1:9", **{option: value}), expect_failure=True)
    assert option in out["msg"] and str(value) in out["msg"]


def test_engine_driver_normalises_vllm_result_json():
    # Shape of `vllm bench serve --save-result` (field names from vLLM's serve.py).
    engine_json = {
        "backend": "openai-chat",
        "model_id": "deepseek-ai/DeepSeek-V4-Flash",
        "num_prompts": 512,
        "completed": 512,
        "failed": 0,
        "duration": 356.9,
        "output_throughput": 1469.0,
        "total_token_throughput": 13217.0,
        "mean_ttft_ms": 1452.0,
        "p99_ttft_ms": 10085.0,
        "mean_tpot_ms": 20.4,
        "p99_tpot_ms": 28.5,
        "mean_itl_ms": 20.3,
        "p99_itl_ms": 175.9,
    }
    out = run_module(
        llm_benchmark,
        {
            "base_url": "http://127.0.0.1:8000",
            "served_model_name": "deepseek",
            "driver": "engine",
            "engine": "vllm",
            "engine_result": engine_json,
            "labels": LABELS,
        },
    )
    assert out["result"]["llmfleet"]["driver"] == "engine"
    assert out["fact"]["output_throughput"] == 1469.0
    assert "Output token throughput (tok/s):" in out["summary"]


def test_engine_driver_needs_the_engine_result():
    out = run_module(
        llm_benchmark,
        {"base_url": "http://127.0.0.1:8000", "served_model_name": "deepseek", "driver": "engine"},
        expect_failure=True,
    )
    assert "engine" in out["msg"]
