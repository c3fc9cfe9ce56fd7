# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The summary table of ``vllm bench serve``, from a result dict.

Standard library only. The first block reproduces vLLM's rows, formats and order exactly
(``"{:<40} {:<10}"`` / ``"{:<40} {:<10.2f}"`` rows, 50-wide ``=`` and ``-`` rules, trailing spaces
included) so tools and eyes that read vLLM's output read ours. Our additions follow in a second
block of the same shape; a run that did not measure the requested workload is announced above
the table.
"""

from __future__ import annotations

import re

WIDTH = 50
_METRICS = (
    ("ttft", "TTFT", "Time to First Token"),
    ("tpot", "TPOT", "Time per Output Token (excl. 1st token)"),
    ("itl", "ITL", "Inter-token Latency"),
    ("e2el", "E2EL", "End-to-end Latency"),
)
_ADDITIONS = (
    ("ttft_content", "TTFT to content", "TTFT to first content/reasoning token"),
    ("itl_token_weighted", "ITL per token", "Token-weighted Inter-token Latency"),
    ("client_queue_time", "Client Queue Time", "Client-side Queueing"),
)


def _rule(title, char):
    return "{s:{c}^{n}}".format(s=title, n=WIDTH, c=char)


def _row(label, value, fmt="{:<10.2f}"):
    return ("{:<40} " + fmt).format(label, value)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _percentiles(source, name):
    """The percentile suffixes present for ``name`` (e.g. ["50", "90", "99"]), in numeric order."""
    pattern = re.compile(r"^p(\d+(?:\.\d+)?)_%s_ms$" % re.escape(name))
    found = []
    for key in source:
        match = pattern.match(key)
        if match:
            found.append(match.group(1))
    return sorted(found, key=float)


def _metric_block(lines, source, attr, name, header):
    if not _is_number(source.get("mean_%s_ms" % attr)):
        return
    lines.append(_rule(header, "-"))
    lines.append(_row("Mean %s (ms):" % name, source["mean_%s_ms" % attr]))
    if _is_number(source.get("median_%s_ms" % attr)):
        lines.append(_row("Median %s (ms):" % name, source["median_%s_ms" % attr]))
    for p in _percentiles(source, attr):
        lines.append(_row("P%s %s (ms):" % (p, name), source["p%s_%s_ms" % (p, attr)]))


def vllm_table(result):
    """The block ``vllm bench serve`` prints, row for row."""
    lines = [_rule(" Serving Benchmark Result ", "=")]
    lines.append(_row("Successful requests:", result.get("completed", 0), "{:<10}"))
    lines.append(_row("Failed requests:", result.get("failed", 0), "{:<10}"))
    if result.get("max_concurrency") is not None:
        lines.append(_row("Maximum request concurrency:", result["max_concurrency"], "{:<10}"))
    rate = result.get("request_rate")
    if _is_number(rate) and rate != float("inf"):
        lines.append(_row("Request rate configured (RPS):", rate))
    lines.append(_row("Benchmark duration (s):", result.get("duration", 0.0)))
    lines.append(_row("Total input tokens:", result.get("total_input_tokens", 0), "{:<10}"))
    lines.append(_row("Total generated tokens:", result.get("total_output_tokens", 0), "{:<10}"))
    lines.append(_row("Request throughput (req/s):", result.get("request_throughput", 0.0)))
    if result.get("request_goodput") is not None:
        lines.append(_row("Request goodput (req/s):", result["request_goodput"]))
    lines.append(_row("Output token throughput (tok/s):", result.get("output_throughput", 0.0)))
    if _is_number(result.get("max_output_tokens_per_s")):
        lines.append(_row("Peak output token throughput (tok/s):", result["max_output_tokens_per_s"]))
    if _is_number(result.get("max_concurrent_requests")):
        lines.append(_row("Peak concurrent requests:", result["max_concurrent_requests"]))
    lines.append(_row("Total token throughput (tok/s):", result.get("total_token_throughput", 0.0)))
    for attr, name, header in _METRICS:
        _metric_block(lines, result, attr, name, header)
    lines.append("=" * WIDTH)
    return lines


def additions_table(result):
    """Our additions, in the same row layout."""
    ours = result.get("llmfleet") or {}
    if ours.get("driver") == "engine" or not ours:
        return []
    lines = [_rule(" llmfleet additions ", "=")]
    for attr, name, header in _ADDITIONS:
        _metric_block(lines, ours, attr, name, header)
    lines.append(_rule("Workload contract", "-"))
    contract = ours.get("contract") or {}
    lines.append(_row("Workload as requested:", "yes" if ours.get("valid", True) else "NO", "{:<10}"))
    if contract:
        lines.append(_row("Requests checked:", contract.get("checked", 0), "{:<10}"))
        lines.append(_row("Requests off contract:", contract.get("invalid_request_count", 0), "{:<10}"))
        if contract.get("prompt_template_overhead") is not None:
            lines.append(_row("Chat-template prompt tokens:", contract["prompt_template_overhead"], "{:<10}"))
    dataset = ours.get("dataset") or {}
    if dataset:
        lines.append(_row("Prompt lengths exact:", "yes" if dataset.get("prompt_len_exact") else "no", "{:<10}"))
    client = ours.get("client") or {}
    if client:
        lines.append(_rule("Client self-check", "-"))
        lines.append(_row("Load-generator processes:", client.get("workers", 1), "{:<10}"))
        lines.append(_row("Event loop:", client.get("event_loop", "?"), "{:<10}"))
        lines.append(_row("Client CPU, busiest process (%):", client.get("cpu_percent_max", 0.0)))
        lines.append(_row("Event loop lag P99 (ms):", client.get("loop_lag_p99_ms", 0.0)))
        lines.append(_row("Event loop lag max (ms):", client.get("loop_lag_max_ms", 0.0)))
        lines.append(_row("Client may have distorted figures:", "YES" if client.get("flagged") else "no", "{:<10}"))
    failures = ours.get("failures") or []
    if failures:
        lines.append(_rule("Failed requests", "-"))
        for group in failures[:5]:
            lines.append("%5d x %s" % (group["count"], group["error"][:120]))
    lines.append("=" * WIDTH)
    return lines


def warnings(result):
    """Lines printed above the table when the figures must not be taken at face value."""
    ours = result.get("llmfleet") or {}
    out = []
    if not ours.get("valid", True):
        out.append("INVALID RUN: the server did not do the requested work, so these figures do not measure it:")
        out.extend("  - " + reason for reason in ours.get("invalid_reasons") or [])
    client = ours.get("client") or {}
    if client.get("flagged"):
        out.append("WARNING: the load generator may have distorted the latency figures:")
        out.extend("  - " + reason for reason in client.get("reasons") or [])
    return out


def format_summary(result):
    """The whole summary text (no trailing newline)."""
    return "\n".join(warnings(result) + vllm_table(result) + additions_table(result))
