# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-request records -> the result dictionary of ``vllm bench serve --save-result``.

Standard library only: the statistics reproduce numpy's results bit for bit (``np.mean`` and
``np.std`` use pairwise summation, ``np.percentile`` the "linear" method with numpy's ``_lerp``),
so a result computed here can be diffed against one saved by vLLM.

Metric definitions (vLLM's ``calculate_metrics`` and ``benchmark`` in ``vllm/benchmarks/serve.py``):

- A request succeeded when the server answered HTTP 200 and sent at least one SSE message with a
  non-empty ``choices`` list.
- ``ttft``: first ``choices`` message - start. ``itl``: one gap per ``choices`` message after the first
  (per chunk, not per token). ``latency`` (E2EL): last ``choices`` message - start; the usage-only
  message does not extend it. Output tokens: ``usage.completion_tokens``; prompt length:
  ``usage.prompt_tokens``.
- ``tpot`` = (latency - ttft) / (output_tokens - 1), only for requests with more than one output token
  (counted as 0 for goodput otherwise).
- ``max_output_tokens_per_s``: the most ``choices`` messages that arrived in one 1 s bucket counted
  from the earliest start (vLLM counts messages, not tokens); ``max_concurrent_requests``: the peak of
  overlapping [start, end) intervals of successful requests.

Our additions go under ``result["llmfleet"]`` (see ``LLMFLEET_DEFINITIONS``).
"""

from __future__ import annotations

import math

MS = 1000.0
DEFAULT_PERCENTILE_METRICS = ("ttft", "tpot", "itl", "e2el")
DEFAULT_METRIC_PERCENTILES = (50.0, 90.0, 99.0)
GOODPUT_METRICS = ("ttft", "tpot", "e2el")

# What each addition under result["llmfleet"] means (also returned in the result, so a saved file
# explains itself).
LLMFLEET_DEFINITIONS = {
    "ttft_content": "time from start to the first SSE message whose delta carries non-empty content or "
    "reasoning text (vLLM's ttft counts the first choices message, often an empty role chunk)",
    "itl_token_weighted": "inter-token latency per output token: each choices message's gap divided by the tokens "
    "it carried, counted once per token (per-chunk usage when the server streams it, "
    "otherwise tokens estimated from the message's share of the text)",
    "client_queue_time": "time a request waited in the client for a free concurrency slot (or its scheduled "
    "arrival), excluded from ttft and e2el as in vLLM",
    "valid": "false when a successful request did not do the requested work: completion_tokens != requested "
    "output length, finish_reason != 'length', or prompt tokens other than requested (plus one constant "
    "chat-template overhead)",
    "client": "client self-check: event-loop lag and CPU of each load-generator process; 'flagged' when the "
    "client may have distorted the latency figures",
    "max_concurrent_requests_per_second_bucket": "peak concurrency as released vLLM (0.33) reports it: the most "
    "requests active within one 1 s bucket; max_concurrent_requests "
    "is vLLM main's exact peak of overlapping requests",
}


class RequestRecord:
    """What the client measured for one request (times in seconds, ``perf_counter`` base)."""

    __slots__ = (
        "index",
        "request_id",
        "expected_prompt_len",
        "expected_output_len",
        "success",
        "error",
        "status",
        "arrival_time",
        "start_time",
        "end_time",
        "ttft",
        "itl",
        "latency",
        "output_tokens",
        "prompt_len",
        "generated_text",
        "finish_reason",
        "ttft_content",
        "chunk_chars",
        "chunk_tokens",
        "stream_error",
    )

    def __init__(self, index=0, request_id="", expected_prompt_len=0, expected_output_len=0):
        self.index = index
        self.request_id = request_id
        self.expected_prompt_len = expected_prompt_len
        self.expected_output_len = expected_output_len
        self.success = False
        self.error = ""
        self.status = None  # HTTP status, None when no response
        self.arrival_time = 0.0  # when the request was due (before waiting for a slot)
        self.start_time = 0.0  # just before sending
        self.end_time = 0.0  # when the request finished, succeeded or not
        self.ttft = 0.0
        self.itl = []  # gap before each choices message after the first
        self.latency = 0.0
        self.output_tokens = None  # usage.completion_tokens
        self.prompt_len = expected_prompt_len  # usage.prompt_tokens when reported
        self.generated_text = ""
        self.finish_reason = None
        self.ttft_content = None
        self.chunk_chars = []  # characters of content + reasoning per choices message
        self.chunk_tokens = None  # exact tokens per choices message when the server streams usage
        self.stream_error = None  # an error object sent inside a 200 stream

    @property
    def client_queue_time(self):
        return self.start_time - self.arrival_time

    def to_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data):
        rec = cls()
        for name in cls.__slots__:
            if name in data:
                setattr(rec, name, data[name])
        return rec


# ---------------------------------------------------------------------------------------------
# numpy-identical statistics
# ---------------------------------------------------------------------------------------------

_PW_BLOCKSIZE = 128


def _pairwise_sum(values, start, count):
    """numpy's ``pairwise_sum`` (numpy/_core/src/umath/loops_utils.h.src) for float64."""
    if count < 8:
        total = 0.0  # numpy starts from -0.0 for n < 8; the sign of an all-zero sum is irrelevant here
        for i in range(start, start + count):
            total += values[i]
        return total
    if count <= _PW_BLOCKSIZE:
        r0 = values[start]
        r1 = values[start + 1]
        r2 = values[start + 2]
        r3 = values[start + 3]
        r4 = values[start + 4]
        r5 = values[start + 5]
        r6 = values[start + 6]
        r7 = values[start + 7]
        i = 8
        limit = count - (count % 8)
        while i < limit:
            j = start + i
            r0 += values[j]
            r1 += values[j + 1]
            r2 += values[j + 2]
            r3 += values[j + 3]
            r4 += values[j + 4]
            r5 += values[j + 5]
            r6 += values[j + 6]
            r7 += values[j + 7]
            i += 8
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < count:
            total += values[start + i]
            i += 1
        return total
    half = count // 2
    half -= half % 8
    return _pairwise_sum(values, start, half) + _pairwise_sum(values, start + half, count - half)


def np_sum(values):
    values = [float(v) for v in values]
    return _pairwise_sum(values, 0, len(values))


def np_mean(values):
    """``np.mean(values or 0)``: 0.0 for an empty list, as vLLM writes it."""
    if not values:
        return 0.0
    return np_sum(values) / len(values)


def np_std(values):
    """``np.std(values or 0)`` with ddof=0 (two passes, as numpy's ``_var``)."""
    if not values:
        return 0.0
    values = [float(v) for v in values]
    mean = _pairwise_sum(values, 0, len(values)) / len(values)
    squares = [(v - mean) * (v - mean) for v in values]
    return math.sqrt(_pairwise_sum(squares, 0, len(squares)) / len(squares))


def np_median(values):
    """``np.median(values or 0)``."""
    if not values:
        return 0.0
    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def _lerp(a, b, t):
    """numpy's ``_lerp``: exact at both ends and monotonic."""
    diff = b - a
    if t >= 0.5:
        return b - diff * (1 - t)
    return a + diff * t


def np_percentile_sorted(ordered, p):
    """``np.percentile(values, p)`` (method "linear") over already sorted floats."""
    if not ordered:
        return 0.0
    q = p / 100.0
    n = len(ordered)
    virtual = (n - 1) * q
    prev = int(math.floor(virtual))
    prev = min(max(prev, 0), n - 1)
    nxt = min(prev + 1, n - 1)
    gamma = virtual - math.floor(virtual)
    return _lerp(ordered[prev], ordered[nxt], gamma)


def np_percentile(values, p):
    """``np.percentile(values or 0, p)``."""
    return np_percentile_sorted(sorted(float(v) for v in values), p)


def percentile_key(p):
    """vLLM's name for a percentile: 99 -> "99", 99.9 -> "99.9"."""
    return str(int(p)) if int(p) == p else str(p)


def describe(values, percentiles, scale=MS):
    """mean/median/std/percentiles of ``values`` (seconds) in vLLM's order of operations:
    the statistic is taken in seconds and then multiplied by 1000."""
    ordered = sorted(float(v) for v in values)
    out = {
        "mean": np_mean(values) * scale,  # pairwise summation depends on the order: keep numpy's
        "median": np_median(ordered) * scale,
        "std": np_std(values) * scale,
    }
    for p in percentiles:
        out["p" + percentile_key(p)] = np_percentile_sorted(ordered, p) * scale
    return out


# ---------------------------------------------------------------------------------------------
# vLLM's calculate_metrics
# ---------------------------------------------------------------------------------------------


def _output_len(rec):
    if rec.output_tokens:
        return int(rec.output_tokens)
    # No usage in the stream: vLLM re-tokenizes the text with its local tokenizer, or counts 1
    # without one. We have no local tokenizer, so we count the choices messages instead.
    return 1 + len(rec.itl)


def peak_output_and_concurrency(successful):
    """vLLM's ``max_output_tokens_per_s`` and ``max_concurrent_requests``."""
    if not successful:
        return 0.0, 0
    min_start = min(r.start_time for r in successful)
    max_end = max(r.start_time + r.latency for r in successful)
    buckets = int(math.ceil(max_end - min_start)) + 1
    per_second = [0] * buckets
    for rec in successful:
        current = rec.start_time + rec.ttft
        second = int(current - min_start)
        if 0 <= second < buckets:
            per_second[second] += 1
        for gap in rec.itl:
            current += gap
            second = int(current - min_start)
            if 0 <= second < buckets:
                per_second[second] += 1
    events = []
    for rec in successful:
        events.append((rec.start_time, 1))
        events.append((rec.start_time + rec.latency, -1))
    events.sort(key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _when, delta in events:
        current += delta
        if current > peak:
            peak = current
    return float(max(per_second)), peak


def concurrency_per_second_bucket(successful):
    """``max_concurrent_requests`` as released vLLM (0.33) computes it: the most requests active in one
    1 s bucket (a request counts in every bucket from its start's to its end's, both included). It can
    exceed max_concurrency: requests that follow each other within one second all count."""
    if not successful:
        return 0
    min_start = min(r.start_time for r in successful)
    max_end = max(r.start_time + r.latency for r in successful)
    buckets = [0] * (int(math.ceil(max_end - min_start)) + 1)
    for rec in successful:
        for second in range(int(rec.start_time - min_start), int(rec.start_time + rec.latency - min_start) + 1):
            if 0 <= second < len(buckets):
                buckets[second] += 1
    return max(buckets)


def calculate_metrics(
    records,
    duration,
    percentiles=DEFAULT_METRIC_PERCENTILES,
    goodput=None,
    percentile_metrics=DEFAULT_PERCENTILE_METRICS,
):
    """vLLM's ``calculate_metrics`` plus the result fields it writes in ``benchmark()``.

    ``records`` are ``RequestRecord`` in prompt order; ``duration`` in seconds.
    Returns the metric part of the result (no settings, no per-request arrays).
    """
    goodput = goodput or {}
    output_lens = []
    total_input = 0
    completed = 0
    ttfts, e2els, itls, tpots, all_tpots = [], [], [], [], []
    for rec in records:
        if not rec.success:
            output_lens.append(0)
            continue
        out_len = _output_len(rec)
        output_lens.append(out_len)
        total_input += int(rec.prompt_len or 0)
        tpot = 0.0
        if out_len > 1:
            tpot = (rec.latency - rec.ttft) / (out_len - 1)
            tpots.append(tpot)
        all_tpots.append(tpot)
        itls.extend(rec.itl)
        ttfts.append(rec.ttft)
        e2els.append(rec.latency)
        completed += 1

    good = 0
    if goodput:
        columns, slos = [], []
        for name, column in (("ttft", ttfts), ("tpot", all_tpots), ("e2el", e2els)):
            if name in goodput:
                columns.append(column)
                slos.append(goodput[name] / MS)
        for row in zip(*columns):
            if all(slo >= value for slo, value in zip(slos, row)):
                good += 1

    successful = [r for r in records if r.success]
    peak_tokens, peak_concurrency = peak_output_and_concurrency(successful)
    total_output = sum(output_lens)
    result = {
        "duration": duration,
        "completed": completed,
        "failed": len(records) - completed,
        "total_input_tokens": total_input,
        "total_output_tokens": total_output,
        "request_throughput": completed / duration if duration else 0.0,
        "request_goodput": (good / duration if duration else 0.0) if goodput else None,
        "output_throughput": total_output / duration if duration else 0.0,
        "total_token_throughput": (total_input + total_output) / duration if duration else 0.0,
        "max_output_tokens_per_s": peak_tokens,
        "max_concurrent_requests": peak_concurrency,
    }
    series = {"ttft": ttfts, "tpot": tpots, "itl": itls, "e2el": e2els}
    for name in percentile_metrics:
        if name not in series:
            continue
        stats = describe(series[name], percentiles)
        for stat, value in stats.items():
            result["%s_%s_ms" % (stat, name)] = value
    return result, output_lens


# ---------------------------------------------------------------------------------------------
# our additions
# ---------------------------------------------------------------------------------------------


def _apportion(total, weights):
    """Split the integer ``total`` over ``weights`` (largest remainder), returning integers."""
    wsum = float(sum(weights))
    if total <= 0 or wsum <= 0:
        return [0] * len(weights)
    raw = [total * w / wsum for w in weights]
    ints = [int(math.floor(x)) for x in raw]
    left = total - sum(ints)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - ints[i]), i))
    for i in order[:left]:
        ints[i] += 1
    return ints


def chunk_token_counts(rec):
    """Tokens carried by each choices message of a successful request (exact or estimated)."""
    n_chunks = 1 + len(rec.itl)
    if rec.chunk_tokens and len(rec.chunk_tokens) == n_chunks:
        return list(rec.chunk_tokens)
    total = _output_len(rec)
    chars = list(rec.chunk_chars or [])
    if len(chars) != n_chunks:
        chars = [1] * n_chunks
    if total == sum(1 for c in chars if c > 0) and all(c >= 0 for c in chars):
        # one token per non-empty message: the common case without speculative decoding
        return [1 if c > 0 else 0 for c in chars]
    if sum(chars) <= 0:
        chars = [1] * n_chunks
    return _apportion(total, chars)


def token_weighted_itls(rec):
    """Per-token inter-token latencies of one request (seconds).

    The gap before a message that carried k tokens counts k times, as gap / k. A message that carried
    no token (an empty role or keep-alive chunk) adds its gap to the next message that did. The
    first token-bearing message ends the time to first token: its gap and its extra tokens are not
    ITL samples.
    """
    counts = chunk_token_counts(rec)
    out = []
    pending = 0.0
    started = counts[0] > 0
    for gap, k in zip(rec.itl, counts[1:]):
        if not started:
            started = k > 0
            continue
        pending += gap
        if k <= 0:
            continue
        out.extend([pending / k] * k)
        pending = 0.0
    return out


_CONTRACT_LABELS = (
    (
        "completion_tokens",
        "returned a completion_tokens other than the requested output length "
        "(the server stopped early or ignored ignore_eos / max_completion_tokens)",
    ),
    ("finish_reason", "ended with a finish_reason other than 'length'"),
    ("prompt_tokens", "had a prompt length other than requested"),
    ("no_usage", "reported no usage (the server ignored stream_options.include_usage)"),
    ("stream_error", "sent an error inside the stream"),
)


def _check_one(rec, overhead, prompt_len_exact, prompt_tolerance_pct, max_template_overhead, check_output):
    problems = []
    if not check_output:
        pass
    elif rec.output_tokens is None:
        problems.append(("no_usage", "no usage.completion_tokens in the stream"))
    elif int(rec.output_tokens) != int(rec.expected_output_len):
        problems.append(
            ("completion_tokens", "completion_tokens %s != requested %s" % (rec.output_tokens, rec.expected_output_len))
        )
    if check_output and rec.finish_reason != "length":
        problems.append(("finish_reason", "finish_reason %r != 'length'" % (rec.finish_reason,)))
    if rec.prompt_len is not None:
        diff = int(rec.prompt_len) - int(rec.expected_prompt_len)
        if prompt_len_exact:
            bad = overhead is None or diff != overhead or not 0 <= overhead <= max_template_overhead
        else:
            limit = max(1.0, rec.expected_prompt_len * prompt_tolerance_pct / 100.0) + max(0, overhead or 0)
            bad = abs(diff) > limit
        if bad:
            problems.append(
                (
                    "prompt_tokens",
                    "prompt_tokens %s != requested %s%s"
                    % (
                        rec.prompt_len,
                        rec.expected_prompt_len,
                        " + chat-template overhead %s" % overhead if overhead else "",
                    ),
                )
            )
    if rec.stream_error:
        problems.append(("stream_error", "error inside the stream: %s" % rec.stream_error))
    return problems


def contract_checks(
    records, prompt_len_exact=True, prompt_tolerance_pct=5.0, max_template_overhead=64, check_output=True
):
    """Did each successful request do the requested work?

    - ``completion_tokens`` equals the requested output length (``ignore_eos`` honoured, no early stop);
    - ``finish_reason`` is ``length``;
    - ``prompt_tokens`` equals the requested prompt length plus one constant chat-template overhead
      (0..``max_template_overhead`` tokens, the same for every request), or, when the prompts could not
      be checked against the server's tokenizer, lies within ``prompt_tolerance_pct`` percent of it.
    ``check_output`` false (requests sent without ``ignore_eos``) skips the two output checks.

    Returns ``valid``, ``invalid_reasons`` (one line per kind of problem), counts, the overhead found
    and the first 20 offending requests.
    """
    ok = [r for r in records if r.success]
    overheads = {}
    for rec in ok:
        if rec.prompt_len is not None:
            diff = int(rec.prompt_len) - int(rec.expected_prompt_len)
            overheads[diff] = overheads.get(diff, 0) + 1
    overhead = None
    if overheads:
        # the most common difference is the chat template's share (the smallest on a tie)
        overhead = sorted(overheads.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    counts = dict((code, 0) for code, dummy in _CONTRACT_LABELS)
    first = {}
    offenders = []
    for rec in ok:
        problems = _check_one(
            rec, overhead, prompt_len_exact, prompt_tolerance_pct, max_template_overhead, check_output
        )
        for code, text in problems:
            counts[code] += 1
            first.setdefault(code, (rec.index, text))
        if problems:
            offenders.append(
                {"index": rec.index, "request_id": rec.request_id, "reasons": [text for dummy, text in problems]}
            )
    reasons = []
    for code, label in _CONTRACT_LABELS:
        if counts[code]:
            reasons.append(
                "%d of %d successful requests %s; first: request %s: %s"
                % (counts[code], len(ok), label, first[code][0], first[code][1])
            )
    if overhead is not None and prompt_len_exact and not 0 <= overhead <= max_template_overhead:
        reasons.append(
            "prompt_tokens differ from the requested length by %d tokens, more than a chat template "
            "adds (0..%d)" % (overhead, max_template_overhead)
        )
    return {
        "checked": len(ok),
        "valid": not reasons,
        "invalid_reasons": reasons,
        "counts": counts,
        "prompt_template_overhead": overhead,
        "prompt_len_exact": bool(prompt_len_exact),
        "invalid_request_count": len(offenders),
        "invalid_requests": offenders[:20],
    }


def failure_summary(records, limit=10):
    """Failed requests grouped by error text (the first line), most frequent first."""
    groups = {}
    for rec in records:
        if rec.success:
            continue
        key = (
            (rec.error or "unknown error").strip().splitlines()[0][:300]
            if (rec.error or "").strip()
            else "unknown error"
        )
        groups.setdefault(key, []).append(rec.index)
    out = [
        {"error": k, "count": len(v), "first_requests": v[:5]}
        for k, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    return out[:limit]


def llmfleet_additions(records, percentiles=DEFAULT_METRIC_PERCENTILES):
    """Statistics of our additional series, in vLLM's naming (``mean_ttft_content_ms``, ...)."""
    ok = [r for r in records if r.success]
    series = {
        "ttft_content": [r.ttft_content for r in ok if r.ttft_content is not None],
        "itl_token_weighted": [g for r in ok for g in token_weighted_itls(r)],
        "client_queue_time": [r.client_queue_time for r in ok],
    }
    out = {}
    for name, values in series.items():
        for stat, value in describe(values, percentiles).items():
            out["%s_%s_ms" % (stat, name)] = value
    out["requests_without_content"] = sum(1 for r in ok if r.ttft_content is None)
    out["max_concurrent_requests_per_second_bucket"] = concurrency_per_second_bucket(ok)
    return out
