#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: llm_benchmark
short_description: Benchmark an OpenAI-compatible LLM endpoint with vllm bench serve's workload and metrics
version_added: "0.1.0"
author:
  - llmfleet founding engineers (@llmfleet)
description:
  - Runs the seed's serving benchmark (by default 8192 input / 1024 output tokens, 512 prompts,
    32 concurrent requests) against an OpenAI-compatible C(/v1/chat/completions) endpoint, with the
    request shape, dataset and metric definitions of C(vllm bench serve), and returns the result in
    vLLM's field names.
  - With O(driver=client) (default) the load generator runs where the module runs, which is the controller
    by default (the benchmark role delegates to C(localhost)) or a load-generator host. It needs only
    the Python standard library there (C(uvloop) is used when installed).
  - With O(driver=engine) the caller ran the engine's own benchmark (C(vllm bench serve --save-result)
    or C(python3 -m sglang.bench_serving --output-file)) and passes its JSON as O(engine_result);
    the module normalises it into the same result.
  - Also returns the local fact and Prometheus textfile content for the served host, and checks
    the result against a previous one (O(baseline)) when O(regression_threshold_pct) is set.
  - A run whose requests did not match the requested workload (fewer completion tokens than asked,
    C(finish_reason) other than C(length), other prompt lengths) is reported as invalid
    (C(result.llmfleet.valid) false) and makes the module fail unless O(fail_on_invalid=false).
  - Zero successful requests fail the module; no fact or file is produced from empty numbers.
options:
  # base_url, served_model_name and api_key: the endpoint doc fragment (llmfleet.serving.endpoint)
  base_url:
    required: true
  endpoint:
    description: Path of the chat completions endpoint.
    type: str
    default: /v1/chat/completions
  model_id:
    description: Weights repository recorded in the result as C(model_id) and C(tokenizer_id).
    type: str
  driver:
    description: Where the load comes from.
    type: str
    choices: [client, engine]
    default: client
  engine:
    description: With O(driver=engine), which engine's benchmark wrote O(engine_result).
    type: str
    choices: [vllm, sglang]
  engine_result:
    description: With O(driver=engine), the JSON object the engine's benchmark saved.
    type: dict
  random_input_len:
    description: Prompt length in tokens.
    type: int
    default: 8192
  random_output_len:
    description: Completion length in tokens (sent as C(max_completion_tokens) with C(ignore_eos)).
    type: int
    default: 1024
  random_range_ratio:
    description: Length spread, as in vLLM (0 means fixed lengths).
    type: float
    default: 0.0
  num_prompts:
    description: Number of measured requests.
    type: int
    default: 512
  max_concurrency:
    description: Closed-loop concurrency (a semaphore, as in vLLM). Omit for no limit.
    type: int
    default: 32
  request_rate:
    description: Requests per second, or C(inf) to send as fast as the concurrency allows.
    type: str
    default: inf
  burstiness:
    description: Gamma shape of request intervals when O(request_rate) is finite (1 = Poisson).
    type: float
    default: 1.0
  seed:
    description: Seed of the random dataset and arrival times.
    type: int
    default: 0
  num_warmups:
    description: Warm-up requests sent before the measured run and excluded from it.
    type: int
    default: 1
  request_timeout:
    description: Seconds one request may take before it counts as failed (a stalled stream).
    type: float
    default: 3600
  metric_percentiles:
    description: Percentiles reported for every latency metric.
    type: list
    elements: float
    default: [50, 90, 99]
  goodput:
    description: SLOs in milliseconds; a request is good when it meets all given ones.
    type: dict
    suboptions:
      ttft:
        description: Time to first token SLO (ms).
        type: float
      tpot:
        description: Time per output token SLO (ms).
        type: float
      e2el:
        description: End-to-end latency SLO (ms).
        type: float
  workers:
    description: Load-generator processes (raise it for very high request rates).
    type: int
    default: 1
  labels:
    description:
      - What the result was measured on, stored with it (for example C(host), C(plan_hash), C(image),
        C(gpu), C(driver_version), C(engine)). Values are strings.
    type: dict
    default: {}
  baseline:
    description: The previous result (or fact) to compare with.
    type: dict
  regression_threshold_pct:
    description:
      - Fail when output throughput dropped, or p99 TTFT grew, by more than this many percent
        against O(baseline). No gate when omitted.
    type: float
  fail_on_invalid:
    description: Fail when the run did not measure the requested workload.
    type: bool
    default: true
  result_path:
    description:
      - Write the result JSON here (mode 0644), where the module runs.
      - The file is written whole (a temporary file in the same folder, then renamed over it), so a reader never
        sees half a result; an identical file is left alone. Check mode writes nothing; diff mode shows the file
        before and after.
    type: path
extends_documentation_fragment:
  - llmfleet.serving.endpoint
attributes:
  check_mode:
    support: full
    description: With O(driver=client) nothing is sent to the server; nothing is written to O(result_path).
  diff_mode:
    support: full
    description: Shows O(result_path) before and after.
notes:
  - In check mode nothing is sent to the server and nothing is written; the module reports what it would run.
seealso:
  - name: vllm bench serve
    description: The benchmark whose workload and metrics this module reproduces.
    link: https://docs.vllm.ai/en/latest/cli/bench/serve.html
"""

EXAMPLES = r"""
- name: Run the seed benchmark against a host, from the controller
  llmfleet.serving.llm_benchmark:
    base_url: "http://{{ ansible_host }}:8000"
    served_model_name: deepseek
    model_id: deepseek-ai/DeepSeek-V4-Flash
    labels:
      host: "{{ inventory_hostname }}"
      plan_hash: "{{ llmfleet_plan.hash }}"
  delegate_to: localhost
  register: bench

- name: Short smoke benchmark with a regression gate
  llmfleet.serving.llm_benchmark:
    base_url: http://10.0.0.5:8000
    served_model_name: deepseek
    num_prompts: 32
    random_input_len: 1024
    random_output_len: 128
    baseline: "{{ ansible_local.llmfleet_benchmark | default(omit) }}"
    regression_threshold_pct: 10
  delegate_to: localhost

- name: Normalise the engine's own benchmark output
  llmfleet.serving.llm_benchmark:
    base_url: http://127.0.0.1:8000
    served_model_name: deepseek
    driver: engine
    engine: vllm
    engine_result: "{{ engine_json.content | b64decode | from_json }}"
"""

RETURN = r"""
result:
  description:
    - The benchmark result in C(vllm bench serve --save-result) field names (C(duration), C(completed),
      C(failed), C(output_throughput), C(mean_ttft_ms), C(p99_itl_ms), ...), plus an C(llmfleet) dictionary
      with our additions (validity and contract checks, token-weighted ITL, first-token TTFT, client self-check).
  returned: when the benchmark ran
  type: dict
summary:
  description: The result table in the layout C(vllm bench serve) prints.
  returned: when the benchmark ran
  type: str
fact:
  description: Content for C(/etc/ansible/facts.d/llmfleet_benchmark.fact) on the served host.
  returned: when the benchmark ran
  type: dict
prometheus:
  description: Content for a node-exporter textfile-collector C(.prom) file.
  returned: when the benchmark ran
  type: str
regression:
  description: The regression verdict (C(checked), C(passed), C(message), C(details)).
  returned: when the benchmark ran
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmfleet.serving.plugins.module_utils._benchmark import run
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._failure import fail_from_exception


def main():
    module = AnsibleModule(
        argument_spec=dict(
            base_url=dict(type="str", required=True),
            endpoint=dict(type="str", default="/v1/chat/completions"),
            served_model_name=dict(type="str", required=True),
            model_id=dict(type="str"),
            api_key=dict(type="str", no_log=True),
            driver=dict(type="str", choices=["client", "engine"], default="client"),
            engine=dict(type="str", choices=["vllm", "sglang"]),
            engine_result=dict(type="dict"),
            random_input_len=dict(type="int", default=8192),
            random_output_len=dict(type="int", default=1024),
            random_range_ratio=dict(type="float", default=0.0),
            num_prompts=dict(type="int", default=512),
            max_concurrency=dict(type="int", default=32),
            request_rate=dict(type="str", default="inf"),
            burstiness=dict(type="float", default=1.0),
            seed=dict(type="int", default=0),
            num_warmups=dict(type="int", default=1),
            request_timeout=dict(type="float", default=3600),
            metric_percentiles=dict(type="list", elements="float", default=[50, 90, 99]),
            goodput=dict(
                type="dict", options=dict(ttft=dict(type="float"), tpot=dict(type="float"), e2el=dict(type="float"))
            ),
            workers=dict(type="int", default=1),
            labels=dict(type="dict", default={}),
            baseline=dict(type="dict"),
            regression_threshold_pct=dict(type="float"),
            fail_on_invalid=dict(type="bool", default=True),
            result_path=dict(type="path"),
        ),
        required_if=[("driver", "engine", ("engine", "engine_result"))],
        supports_check_mode=True,
    )
    try:
        outcome = run(module)
    except LlmfleetError as exc:
        fail_from_exception(module, exc)
    if outcome.pop("failed", False):
        module.fail_json(**outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
