"""Prometheus text for /metrics with vLLM's metric names (and SGLang's, when emulating SGLang)."""

from __future__ import annotations

import bisect

# vLLM's bucket boundaries (vllm/v1/metrics/loggers.py).
TTFT_BUCKETS = [
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
]
ITL_BUCKETS = [
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
]
E2E_BUCKETS = [
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
]


class Histogram:
    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value):
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def render(self, name, labels):
        lines = []
        running = 0
        for bound, n in zip(self.buckets, self.counts):
            running += n
            lines.append('%s_bucket{%s,le="%s"} %d' % (name, labels, repr(float(bound)), running))
        lines.append('%s_bucket{%s,le="+Inf"} %d' % (name, labels, self.count))
        lines.append("%s_sum{%s} %r" % (name, labels, self.sum))
        lines.append("%s_count{%s} %d" % (name, labels, self.count))
        return lines


class Metrics:
    def __init__(self, model_name, engine_kind):
        self.labels = 'engine="0",model_name="%s"' % model_name.replace('"', '\\"')
        self.engine_kind = engine_kind
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success = {"stop": 0, "length": 0, "abort": 0, "tool_calls": 0}
        self.errors = 0
        self.ttft = Histogram(TTFT_BUCKETS)
        self.itl = Histogram(ITL_BUCKETS)
        self.e2e = Histogram(E2E_BUCKETS)
        self.queue = Histogram(TTFT_BUCKETS)
        self.spec_drafts = 0
        self.spec_draft_tokens = 0
        self.spec_accepted = 0

    def render(self, engine, spec_tokens):
        L = self.labels
        out = []

        def metric(name, kind, help_text, lines):
            out.append("# HELP %s %s" % (name, help_text))
            out.append("# TYPE %s %s" % (name, kind))
            out.extend(lines)

        metric(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            ["vllm:num_requests_running{%s} %d" % (L, engine.slots_used)],
        )
        metric(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            ["vllm:num_requests_waiting{%s} %d" % (L, engine.waiting)],
        )
        metric(
            "vllm:kv_cache_usage_perc",
            "gauge",
            "KV-cache usage. 1 means 100 percent usage.",
            ["vllm:kv_cache_usage_perc{%s} %r" % (L, engine.kv_usage())],
        )
        metric(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            ["vllm:prompt_tokens_total{%s} %d" % (L, self.prompt_tokens)],
        )
        metric(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            ["vllm:generation_tokens_total{%s} %d" % (L, self.generation_tokens)],
        )
        metric(
            "vllm:request_success_total",
            "counter",
            "Count of successfully processed requests.",
            [
                'vllm:request_success_total{%s,finished_reason="%s"} %d' % (L, k, v)
                for k, v in sorted(self.success.items())
            ],
        )
        metric(
            "vllm:time_to_first_token_seconds",
            "histogram",
            "Histogram of time to first token in seconds.",
            self.ttft.render("vllm:time_to_first_token_seconds", L),
        )
        metric(
            "vllm:inter_token_latency_seconds",
            "histogram",
            "Histogram of inter-token latency in seconds.",
            self.itl.render("vllm:inter_token_latency_seconds", L),
        )
        metric(
            "vllm:e2e_request_latency_seconds",
            "histogram",
            "Histogram of e2e request latency in seconds.",
            self.e2e.render("vllm:e2e_request_latency_seconds", L),
        )
        metric(
            "vllm:request_queue_time_seconds",
            "histogram",
            "Histogram of time spent in WAITING phase for request.",
            self.queue.render("vllm:request_queue_time_seconds", L),
        )
        if spec_tokens > 1:
            metric(
                "vllm:spec_decode_num_drafts_total",
                "counter",
                "Number of spec decoding drafts.",
                ["vllm:spec_decode_num_drafts_total{%s} %d" % (L, self.spec_drafts)],
            )
            metric(
                "vllm:spec_decode_num_draft_tokens_total",
                "counter",
                "Number of draft tokens.",
                ["vllm:spec_decode_num_draft_tokens_total{%s} %d" % (L, self.spec_draft_tokens)],
            )
            metric(
                "vllm:spec_decode_num_accepted_tokens_total",
                "counter",
                "Number of accepted tokens.",
                ["vllm:spec_decode_num_accepted_tokens_total{%s} %d" % (L, self.spec_accepted)],
            )
        if self.engine_kind == "sglang":
            metric(
                "sglang:num_running_reqs",
                "gauge",
                "The number of running requests.",
                ["sglang:num_running_reqs{%s} %d" % (L, engine.decoding)],
            )
            metric(
                "sglang:num_queue_reqs",
                "gauge",
                "The number of requests in the waiting queue.",
                ["sglang:num_queue_reqs{%s} %d" % (L, engine.waiting)],
            )
            metric(
                "sglang:prompt_tokens_total",
                "counter",
                "Number of prefill tokens processed.",
                ["sglang:prompt_tokens_total{%s} %d" % (L, self.prompt_tokens)],
            )
            metric(
                "sglang:generation_tokens_total",
                "counter",
                "Number of generation tokens processed.",
                ["sglang:generation_tokens_total{%s} %d" % (L, self.generation_tokens)],
            )
        return "\n".join(out) + "\n"
