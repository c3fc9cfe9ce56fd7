"""The timing model: calibration against the seed's tables, and what a real-time client measures."""

import dataclasses
import json
import os
import statistics
import tempfile
import threading
import time

import pytest
from emulator_harness import SEED_B200_SGLANG, SEED_B200_VLLM, Emulator, chat_body, chunks_of
from llmfleet_emulator.presets import PRESETS, SEED_TABLES
from llmfleet_emulator.simulate import simulate

# How close the calibrated presets come to the seed's published means (simulate.py, seed workload).
MEAN_TOLERANCE = {"output_throughput": 0.06, "mean_ttft_ms": 0.12, "mean_tpot_ms": 0.06, "mean_itl_ms": 0.06}


@pytest.mark.parametrize("name", sorted(SEED_TABLES))
def test_calibrated_presets_reproduce_the_seed_means(name):
    result = simulate(PRESETS[name])
    assert result["completed"] == 512
    for metric, tolerance in MEAN_TOLERANCE.items():
        want = SEED_TABLES[name][metric]
        assert abs(result[metric] - want) <= tolerance * want, (metric, result[metric], want)


def test_itl_exceeds_tpot_only_under_speculative_decoding_in_simulation():
    eagle = simulate(PRESETS["b200-sglang-eagle"], num_prompts=64)
    plain = simulate(PRESETS["b200-vllm"], num_prompts=64)
    assert eagle["mean_itl_ms"] > 2 * eagle["mean_tpot_ms"]
    assert abs(plain["mean_itl_ms"] - plain["mean_tpot_ms"]) < 0.05 * plain["mean_tpot_ms"]


def test_simulation_is_seeded():
    a = simulate(PRESETS["h100-sglang-eagle"], num_prompts=40, seed=3)
    b = simulate(PRESETS["h100-sglang-eagle"], num_prompts=40, seed=3)
    c = simulate(PRESETS["h100-sglang-eagle"], num_prompts=40, seed=4)
    assert a == b and a != c


def _concurrent_streams(emu, bodies, headers_list=None):
    """Run streaming chat requests in parallel threads; returns their event lists in order."""
    results = [None] * len(bodies)

    def run(i):
        results[i] = emu.stream("/v1/chat/completions", bodies[i], headers=(headers_list or [{}] * len(bodies))[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _client_metrics(events_list, start_times=None):
    """vllm bench serve's per-request TPOT and all ITLs from client receipt times."""
    tpots, itls = [], []
    for events in events_list:
        choice_times = [t for t, _e, d in events if d != "[DONE]" and json.loads(d)["choices"]]
        usage = [json.loads(d) for _t, _e, d in events if d != "[DONE]" and not json.loads(d)["choices"]]
        out = usage[0]["usage"]["completion_tokens"]
        tpots.append((choice_times[-1] - choice_times[0]) / (out - 1))
        itls.extend(b - a for a, b in zip(choice_times, choice_times[1:]))
    return statistics.mean(tpots), statistics.mean(itls)


@pytest.mark.parametrize("argv, eagle", [(SEED_B200_SGLANG, True), (SEED_B200_VLLM, False)])
def test_real_time_itl_versus_tpot(argv, eagle):
    emu = Emulator(argv, env={"EMULATOR_TIME_SCALE": "4"})
    try:
        bodies = [
            chat_body(content="word " * 50, max_tokens=120, stream_options={"include_usage": True}) for _i in range(4)
        ]
        tpot, itl = _client_metrics(_concurrent_streams(emu, bodies))
    finally:
        emu.stop()
    if eagle:
        assert itl > 1.8 * tpot, (itl, tpot)
    else:
        assert 0.85 * tpot < itl < 1.15 * tpot, (itl, tpot)


def test_trace_file_matches_what_the_client_saw():
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.jsonl")
        emu = Emulator(SEED_B200_SGLANG, env={"EMULATOR_TIME_SCALE": "10", "EMULATOR_TRACE_FILE": trace})
        try:
            bodies = [
                chat_body(content="alpha beta " * 20, max_tokens=60, stream_options={"include_usage": True})
                for _i in range(4)
            ]
            headers = [{"x-request-id": "req-%d" % i} for i in range(4)]
            seen = _concurrent_streams(emu, bodies, headers)
        finally:
            emu.stop()
        records = {r["request_id"]: r for r in map(json.loads, open(trace))}
    assert sorted(records) == ["req-%d" % i for i in range(4)]
    lags = []
    for i, events in enumerate(seen):
        rec = records["req-%d" % i]
        chunks = chunks_of(events)
        choice_msgs = [(t, json.loads(d)) for t, _e, d in events if d != "[DONE]" and json.loads(d)["choices"]]
        usage = chunks[-1]["usage"]
        assert rec["status"] == 200 and rec["finish_reason"] == "length"
        assert len(rec["chunk_monotonic"]) == len(choice_msgs)  # one entry per choices message
        assert rec["chunk_tokens"][0] == 0  # the role chunk
        assert sum(rec["chunk_tokens"]) == usage["completion_tokens"] == rec["completion_tokens"] == 60
        assert rec["prompt_tokens"] == usage["prompt_tokens"]
        assert any(k > 1 for k in rec["chunk_tokens"])  # EAGLE: several tokens per chunk
        for (t_client, msg), t_server, k in zip(choice_msgs, rec["chunk_monotonic"], rec["chunk_tokens"]):
            if k:
                assert len(msg["choices"][0]["delta"]["content"].split()) == k
            lags.append(t_client - t_server)
        assert rec["arrival_monotonic"] <= rec["first_chunk_monotonic"] <= rec["end_monotonic"]
        assert (
            abs(
                (rec["first_chunk_time"] - rec["arrival_time"])
                - (rec["first_chunk_monotonic"] - rec["arrival_monotonic"])
            )
            < 0.01
        )
    assert min(lags) > -0.001  # nothing arrives before the server says it sent it
    assert statistics.median(lags) < 0.005


def test_requests_beyond_max_batch_wait_for_a_slot():
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.jsonl")
        emu = Emulator(
            SEED_B200_VLLM + ["--max-num-seqs", "1"], env={"EMULATOR_TIME_SCALE": "10", "EMULATOR_TRACE_FILE": trace}
        )
        try:
            _concurrent_streams(emu, [chat_body(max_tokens=40) for _i in range(2)])
        finally:
            emu.stop()
        first, second = sorted(map(json.loads, open(trace)), key=lambda r: r["first_chunk_monotonic"])
    assert second["first_chunk_monotonic"] >= first["chunk_monotonic"][-1]


def test_time_scale_divides_model_time():
    params = dataclasses.replace(PRESETS["b200-vllm"], ttft_overhead_s=0.6, decode_step_base_s=0.02)
    prompt_words = 1000
    # Long enough model times that a loaded test machine's scheduling noise stays small beside them.
    emu = Emulator(
        SEED_B200_VLLM,
        env={
            "EMULATOR_TIME_SCALE": "2",
            "EMULATOR_TTFT_OVERHEAD_JITTER": "0",
            "EMULATOR_STEP_JITTER": "0",
            "EMULATOR_NEW_BATCH_BUCKET_JIT_S": "0",
            "EMULATOR_TTFT_OVERHEAD_S": "0.6",
            "EMULATOR_DECODE_STEP_BASE_S": "0.02",
        },
    )
    try:
        started = time.monotonic()
        events = emu.stream("/v1/chat/completions", chat_body(content="w " * prompt_words, max_tokens=50))
    finally:
        emu.stop()
    # One request alone: overhead + prefill, then 49 one-sequence steps (warm-up pause off).
    ttft_model = params.ttft_overhead_s + (prompt_words + 3) / params.prefill_tokens_per_s
    decode_model = 49 * (params.decode_step_base_s + params.decode_step_per_seq_s)
    times = [t for t, _e, d in events if d != "[DONE]"]
    decode_real = times[-1] - times[0]
    assert len(times) == 51  # role chunk + 50 one-token chunks
    assert times[0] - started == pytest.approx(ttft_model / 2, rel=0.2)
    assert decode_real == pytest.approx(decode_model / 2, rel=0.2)
