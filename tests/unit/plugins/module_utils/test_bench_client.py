"""The load generator against the collection's engine emulator (a real HTTP server on 127.0.0.1).

The emulator stands in for the engine (the edge we cannot run here); its fault switches make it
stop early, ignore ignore_eos, answer 500 or stall, as broken servers do.
"""

import json
import statistics
import sys

import pytest
from helpers.paths import ROOT

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_client import run_benchmark
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_report import format_summary
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError

sys.path.insert(0, str(ROOT / "extensions" / "bench"))
from llmfleet_bench.emulator import Emulator  # noqa: E402


def _config(emu, **extra):
    cfg = {
        "base_url": emu.base_url,
        "served_model_name": "deepseek",
        "model_id": "deepseek-ai/DeepSeek-V4-Flash",
        "random_input_len": 200,
        "random_output_len": 24,
        "num_prompts": 16,
        "max_concurrency": 4,
        "request_timeout": 30,
    }
    cfg.update(extra)
    return cfg


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    trace = tmp_path_factory.mktemp("trace") / "trace.jsonl"
    env = {"EMULATOR_PRESET": "b200-vllm", "EMULATOR_TIME_SCALE": "20", "EMULATOR_TRACE_FILE": str(trace)}
    with Emulator(env=env) as emu:
        emu.trace = trace
        yield emu


def _emulator(**env):
    env.setdefault("EMULATOR_PRESET", "fast")
    return Emulator(env={k: str(v) for k, v in env.items()})


BOTH = pytest.mark.parametrize("http_client", ["raw", "aiohttp"])


@BOTH
def test_valid_run_reports_the_requested_workload(emulator, http_client):
    res = run_benchmark(_config(emulator, num_warmups=2, save_detailed=True, http_client=http_client))
    assert (res["completed"], res["failed"]) == (16, 0)
    ours = res["llmfleet"]
    assert ours["valid"], ours["invalid_reasons"]
    assert ours["dataset"]["prompt_len_exact"] and ours["dataset"]["tokenizer"] == "server"
    # usage.prompt_tokens = the exact 200 prompt tokens + the emulator's 3 chat-template tokens
    assert res["input_lens"] == [203] * 16 and ours["contract"]["prompt_template_overhead"] == 3
    assert res["output_lens"] == [24] * 16 and res["total_output_tokens"] == 16 * 24
    assert res["max_concurrent_requests"] == 4
    assert res["mean_ttft_ms"] > 0 and len(res["itls"][0]) >= 23
    assert ours["warmup"] == {"requests": 2, "failed": 0, "errors": []}
    assert "Successful requests:                     16" in format_summary(res)


@BOTH
def test_requests_carry_ids_and_agree_with_the_server_trace(emulator, http_client):
    emulator.trace.write_text("")
    res = run_benchmark(_config(emulator, save_detailed=True, request_id_prefix="gt-", http_client=http_client))
    truth = {}
    for line in emulator.trace.read_text().splitlines():
        row = json.loads(line)
        truth[row["request_id"]] = row
    assert set(truth) == {"gt-%d" % i for i in range(16)}  # x-request-id reached the server
    server_itls = [
        b - a
        for i in range(16)
        for a, b in zip(truth["gt-%d" % i]["chunk_monotonic"], truth["gt-%d" % i]["chunk_monotonic"][1:])
    ]
    client_itls = [g for row in res["itls"] for g in row]
    # same number of gaps (one per chunk, the role chunk included), and the same median within 2 ms
    assert len(client_itls) == len(server_itls)
    assert abs(statistics.median(client_itls) - statistics.median(server_itls)) < 0.002


def test_finite_request_rate_spreads_arrivals(emulator):
    res = run_benchmark(_config(emulator, max_concurrency=None, request_rate=40, num_prompts=20, burstiness=2.0))
    assert res["completed"] == 20 and res["request_rate"] == 40.0
    assert res["duration"] >= 20 / 40 * 0.9  # the last request is due at num_prompts / rate


@BOTH
def test_worker_processes_share_the_prompts(emulator, http_client):
    res = run_benchmark(
        _config(emulator, workers=2, num_prompts=24, max_concurrency=4, save_detailed=True, http_client=http_client)
    )
    assert res["completed"] == 24
    client = res["llmfleet"]["client"]
    assert client["workers"] == 2 and sum(w["requests"] for w in client["per_worker"]) == 24
    assert res["max_concurrent_requests"] <= 4
    assert all(t >= 0 for t in res["start_times"])  # one time base for both processes


def test_server_that_stops_early_makes_the_run_invalid():
    with _emulator(EMULATOR_FAULT_STOP_EARLY=10) as emu:
        res = run_benchmark(_config(emu))
    ours = res["llmfleet"]
    assert not ours["valid"]
    assert "completion_tokens 10 != requested 24" in ours["invalid_reasons"][0]
    assert format_summary(res).startswith("INVALID RUN")


def test_server_that_ignores_ignore_eos_makes_the_run_invalid():
    with _emulator(EMULATOR_FAULT_IGNORE_IGNORE_EOS=1) as emu:
        res = run_benchmark(_config(emu, random_output_len=200, num_prompts=24))
    ours = res["llmfleet"]
    assert not ours["valid"]
    assert ours["contract"]["counts"]["finish_reason"] > 0
    assert any("finish_reason 'stop'" in r for r in ours["invalid_reasons"])


@BOTH
def test_http_500s_count_as_failed_and_the_run_continues(http_client):
    with _emulator(EMULATOR_FAULT_HTTP500_FRACTION=0.3, EMULATOR_SEED=3) as emu:
        res = run_benchmark(_config(emu, num_prompts=40, http_client=http_client))
    assert res["failed"] > 0 and res["completed"] > 0 and res["completed"] + res["failed"] == 40
    groups = res["llmfleet"]["failures"]
    assert groups[0]["error"].startswith("HTTP 500") and groups[0]["count"] == res["failed"]
    assert res["llmfleet"]["valid"]  # the requests that succeeded did the requested work
    assert "Failed requests:                         %d" % res["failed"] in format_summary(res)


@BOTH
def test_stalled_stream_hits_the_request_timeout(http_client):
    with _emulator(EMULATOR_FAULT_STALL_AFTER_CHUNKS=3) as emu:
        with pytest.raises(BenchmarkError) as err:
            run_benchmark(_config(emu, num_prompts=2, request_timeout=1, http_client=http_client))
        # a stalled stream is also caught sooner by the idle timeout
        with pytest.raises(BenchmarkError, match="stream_idle_timeout"):
            run_benchmark(
                _config(emu, num_prompts=2, request_timeout=30, stream_idle_timeout=0.5, http_client=http_client)
            )
    text = str(err.value)
    assert "No request succeeded" in text and "timed out after 1.0 s" in text


def test_unreachable_endpoint():
    from llmfleet_bench.emulator import free_port

    with pytest.raises(BenchmarkError, match=r"Cannot reach the server at base_url http://127.0.0.1:\d+"):
        run_benchmark({"base_url": "http://127.0.0.1:%d" % free_port(), "served_model_name": "deepseek"})


def test_wrong_or_missing_api_key():
    with Emulator(env={"EMULATOR_PRESET": "fast"}, args=["--api-key", "s3cret-key"]) as emu:
        with pytest.raises(BenchmarkError) as err:
            run_benchmark(_config(emu, api_key="wrong-key"))
        assert "refused api_key (HTTP 401" in str(err.value) and "wrong-key" not in str(err.value)
        with pytest.raises(BenchmarkError, match="needs an API key"):
            run_benchmark(_config(emu))
        assert run_benchmark(_config(emu, api_key="s3cret-key", num_prompts=2))["completed"] == 2


def test_wrong_model_name(emulator):
    with pytest.raises(BenchmarkError) as err:
        run_benchmark(_config(emulator, served_model_name="deepseek-v4"))
    assert "served_model_name 'deepseek-v4' is not served" in str(err.value) and "['deepseek']" in str(err.value)


def test_server_tokenizer_auto_falls_back_when_detokenize_is_missing():
    # /tokenize works, /detokenize answers 404: "auto" must fall back to word prompts, not fail the run
    with _emulator(EMULATOR_FAULT_NO_DETOKENIZE=1) as emu:
        res = run_benchmark(_config(emu, num_prompts=4, use_server_tokenizer="auto"))
        assert (res["completed"], res["failed"]) == (4, 0)
        assert res["llmfleet"]["dataset"]["tokenizer"] == "none"
        assert res["llmfleet"]["dataset"]["prompt_len_exact"] is False
        with pytest.raises(BenchmarkError) as err:
            run_benchmark(_config(emu, num_prompts=4, use_server_tokenizer="always"))
    text = str(err.value)
    assert "use_server_tokenizer is 'always'" in text and "/detokenize answered HTTP 404" in text
    assert "'auto'" in text
