"""The summary prints vllm bench serve's table row for row."""

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_report import format_summary, vllm_table

RESULT = {
    "completed": 512,
    "failed": 0,
    "max_concurrency": 32,
    "request_rate": "inf",
    "duration": 429.123,
    "total_input_tokens": 4195840,
    "total_output_tokens": 524288,
    "request_throughput": 1.19313,
    "request_goodput": None,
    "output_throughput": 1221.77,
    "max_output_tokens_per_s": 1536.0,
    "max_concurrent_requests": 32,
    "total_token_throughput": 10999.5,
    "mean_ttft_ms": 1701.2,
    "median_ttft_ms": 900.0,
    "std_ttft_ms": 3.0,
    "p50_ttft_ms": 900.0,
    "p90_ttft_ms": 5000.5,
    "p99_ttft_ms": 20886.0,
    "mean_tpot_ms": 24.2,
    "median_tpot_ms": 23.0,
    "std_tpot_ms": 1.0,
    "p99_tpot_ms": 51.6,
    "mean_itl_ms": 65.5,
    "median_itl_ms": 40.0,
    "std_itl_ms": 2.0,
    "p99_itl_ms": 559.0,
    "mean_e2el_ms": 26400.0,
    "median_e2el_ms": 26000.0,
    "std_e2el_ms": 9.0,
    "p99_e2el_ms": 47000.0,
}

# vLLM's output for the same numbers (rows are "{:<40} {:<10}", so they carry trailing spaces)
EXPECTED = """\
============ Serving Benchmark Result ============
Successful requests:                     512
Failed requests:                         0
Maximum request concurrency:             32
Benchmark duration (s):                  429.12
Total input tokens:                      4195840
Total generated tokens:                  524288
Request throughput (req/s):              1.19
Output token throughput (tok/s):         1221.77
Peak output token throughput (tok/s):    1536.00
Peak concurrent requests:                32.00
Total token throughput (tok/s):          10999.50
---------------Time to First Token----------------
Mean TTFT (ms):                          1701.20
Median TTFT (ms):                        900.00
P50 TTFT (ms):                           900.00
P90 TTFT (ms):                           5000.50
P99 TTFT (ms):                           20886.00
-----Time per Output Token (excl. 1st token)------
Mean TPOT (ms):                          24.20
Median TPOT (ms):                        23.00
P99 TPOT (ms):                           51.60
---------------Inter-token Latency----------------
Mean ITL (ms):                           65.50
Median ITL (ms):                         40.00
P99 ITL (ms):                            559.00
----------------End-to-end Latency----------------
Mean E2EL (ms):                          26400.00
Median E2EL (ms):                        26000.00
P99 E2EL (ms):                           47000.00
=================================================="""


def test_vllm_layout_row_for_row():
    lines = vllm_table(RESULT)
    assert [line.rstrip() for line in lines] == EXPECTED.splitlines()
    for line in lines:
        if ":" in line:
            assert len(line) == 51  # label padded to 40, a space, value padded to 10


def test_optional_rows_appear_as_in_vllm():
    text = "\n".join(vllm_table(dict(RESULT, request_rate=4.0, request_goodput=0.75, max_concurrency=None)))
    assert "Request rate configured (RPS):".ljust(41) + "4.00      " in text
    assert "Request goodput (req/s):".ljust(41) + "0.75      " in text
    assert "Maximum request concurrency" not in text
    # goodput sits between request throughput and output throughput, as in vLLM
    assert text.index("Request throughput") < text.index("Request goodput") < text.index("Output token throughput")


def test_invalid_run_is_announced_above_the_table():
    result = dict(
        RESULT,
        llmfleet={
            "valid": False,
            "invalid_reasons": ["3 of 512 successful requests returned ..."],
            "client": {"flagged": False},
        },
    )
    text = format_summary(result)
    assert text.startswith("INVALID RUN")
    assert "  - 3 of 512 successful requests returned ..." in text
    assert "Workload as requested:                   NO" in text


def test_flagged_client_is_announced():
    client = {"flagged": True, "reasons": ["worker 0 used 97% of a CPU core"], "workers": 1, "cpu_percent_max": 97.0}
    result = dict(RESULT, llmfleet={"valid": True, "client": client})
    text = format_summary(result)
    assert text.startswith("WARNING: the load generator may have distorted")
    assert "Client may have distorted figures:       YES" in text


def test_engine_results_print_without_our_additions():
    # a normalised `vllm bench serve` file: only the vLLM block
    text = format_summary(dict(RESULT, llmfleet={"driver": "engine", "engine": "vllm", "valid": True}))
    assert text.splitlines()[-1] == "=" * 50
    assert "llmfleet additions" not in text
