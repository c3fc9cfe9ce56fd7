#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openai_verify
short_description: Wait for an OpenAI-compatible LLM server to be ready, then check its contract
version_added: "0.1.0"
description:
  - Waits until a vLLM or SGLang server answers C(GET /health) with 200, then runs contract checks in order
    and returns a structured report. Fails at the first broken check, with what was found and what to change.
  - "Waiting: a refused, reset or timed-out connection means the engine is still loading (vLLM and SGLang keep
    the port closed until the model is loaded, which can take up to an hour); the module polls every
    O(poll_interval) seconds until O(timeout). A C(/health) that answers 503 for longer than O(unhealthy_grace)
    seconds is an engine that died behind a live HTTP server (vLLM's EngineDeadError), and fails."
  - "Failing fast: with O(unit), every poll asks C(systemctl is-active UNIT); a unit that is C(failed),
    C(inactive) or waiting to auto-restart fails the task at once (within one O(poll_interval), not at the
    timeout), with the last 30 lines of C(journalctl -u UNIT) in the message. O(container) does the same with
    C(docker inspect) and C(docker logs --tail 30)."
  - "Checks (O(checks)): V(health) C(GET /health) is 200 (the readiness result);
    V(models) C(GET /v1/models) lists O(served_model_name);
    V(chat) a non-streaming C(POST /v1/chat/completions) returns content and usage;
    V(chat_stream) the same with C(stream=true) and C(stream_options.include_usage=true) yields a role chunk,
    content chunks, a usage chunk and C(data: [DONE]);
    V(auth) (needs O(api_key)) C(GET /v1/models) without a key and with a wrong key are refused with 401, and
    accepted with O(api_key);
    V(tools) a chat request with one function tool and C(tool_choice=auto) comes back with parsed C(tool_calls)
    (needs the engine's tool-call parser);
    V(reasoning) a chat request that asks to think (C(chat_template_kwargs)) comes back with C(reasoning_content)
    (needs the engine's reasoning parser);
    V(anthropic) a streamed Anthropic-style C(POST /v1/messages), the endpoint Claude Code uses through
    C(ANTHROPIC_BASE_URL), yields C(message_start), content deltas, C(message_delta) with usage and C(message_stop)."
  - Runs on the GPU host by default (standard library only), so it checks the server without firewalls in the
    way; delegate it to check from elsewhere (then O(unit) and O(container) do not apply).
  - The API key is sent only as C(Authorization Bearer) and never returned; results and messages show it masked
    (C(sk-…abcd), or C(********) for keys shorter than 16 characters). Journal lines that contain it are masked too.
author:
  - llmfleet founding engineers (@llmfleet)
options:
  # base_url, served_model_name and api_key: the endpoint doc fragment (llmfleet.serving.endpoint)
  base_url:
    default: http://127.0.0.1:8000
  timeout:
    description:
      - Seconds to wait for C(GET /health) to answer 200. Generous by default, for models that load for an hour.
    type: float
    default: 3600
  request_timeout:
    description:
      - Seconds one check request may take (for streams, the longest pause between two reads).
    type: float
    default: 300
  poll_interval:
    description:
      - Seconds between readiness polls (and unit/container checks). A crash is noticed within this time.
    type: float
    default: 2
  unhealthy_grace:
    description:
      - Seconds a C(GET /health) answering 503 is tolerated before the engine counts as dead.
      - SGLang answers 503 during the warm-up request right after it opens its port; vLLM answers 503 only when its
        engine died. V(0) fails at the first 503.
    type: float
    default: 60
  checks:
    description:
      - Checks to run after readiness, in this order. Readiness is always awaited first.
      - Default V([health, models, chat, chat_stream]), plus V(auth) when O(api_key) is set.
    type: list
    elements: str
    choices: [health, models, chat, chat_stream, auth, tools, reasoning, anthropic]
  max_tokens:
    description:
      - C(max_tokens) of the check requests (V(tools) uses at least 256).
    type: int
    default: 32
  unit:
    description:
      - systemd unit that runs the engine on this host, for example C(llmfleet-deepseek.service).
      - While waiting, a unit that is C(failed), C(inactive) or auto-restarting fails the task at once with the last
        30 lines of its journal.
    type: str
  container:
    description:
      - Name of the engine's container on this host. While waiting, a container that exited, restarts, or was
        running and is gone fails the task at once with its last 30 log lines. A container that does not exist yet
        (the image is still being pulled) is waited for.
    type: str
  container_cli:
    description:
      - Command that inspects O(container).
    type: str
    choices: [docker, podman]
    default: docker
  validate_certs:
    description:
      - Verify the server's TLS certificate for C(https://) URLs.
    type: bool
    default: true
  use_proxy:
    description:
      - Use the proxy from C(http_proxy)/C(https_proxy). Off by default, because the server is normally
        reached directly and a host's proxy (set for downloads) would not know it.
    type: bool
    default: false
extends_documentation_fragment:
  - llmfleet.serving.endpoint
attributes:
  check_mode:
    support: full
    description: The module only reads (HTTP requests, systemctl, journalctl, docker inspect); check mode runs the same checks.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
notes:
  - Standard library only; runs on the GPU host by default.
  - A O(base_url) ending in C(/v1) is accepted, with a warning, and shortened. V(models) expects
    O(served_model_name) in the server's model list.
  - The check requests generate a few tokens each (O(max_tokens)); they are cheap but they are real requests and show
    in the server's metrics.
  - On failure the result still carries RV(report) (the checks so far), RV(ready_after_s) and, for a dead unit or
    container, C(journal) (the log lines) and C(unit_state)/C(container_state).
seealso:
  - module: llmfleet.serving.serving_plan
  - name: vLLM OpenAI-compatible server
    description: Endpoints, C(--api-key), tool and reasoning parsers.
    link: https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
"""

EXAMPLES = r"""
- name: Wait for the server on this host and check the OpenAI contract
  llmfleet.serving.openai_verify:
    served_model_name: deepseek

- name: Check everything the seed's B200/vLLM server offers, failing fast if its unit dies while loading
  llmfleet.serving.openai_verify:
    base_url: http://127.0.0.1:8000
    served_model_name: deepseek
    api_key: "{{ serve_api_key }}"
    unit: llmfleet-deepseek.service
    container: llmfleet-deepseek
    checks: [health, models, chat, chat_stream, auth, tools, reasoning, anthropic]
  register: verify

- name: Show the report
  ansible.builtin.debug:
    msg: "{{ verify.report | map(attribute='detail') | list }}"

- name: Check from the controller, as a client would
  llmfleet.serving.openai_verify:
    base_url: "http://{{ ansible_host }}:8000"
    served_model_name: deepseek
    timeout: 60
  delegate_to: localhost
"""

RETURN = r"""
report:
  description: One entry per check that ran, in order. On failure, the checks so far, the last one failed.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: health, passed: true, latency_ms: 1.2, detail: "GET /health answered 200 after 41.0 s of waiting (21 polls)"}
    - {name: models, passed: true, latency_ms: 2.3, detail: "/v1/models lists ['deepseek']"}
  contains:
    name:
      description: The check, one of the O(checks) choices.
      type: str
    passed:
      description: Whether the check passed.
      type: bool
    latency_ms:
      description: Wall time of the check's requests in milliseconds (for V(health), the successful poll).
      type: float
    detail:
      description: What was seen (token counts, first-token time, model names) or, for a failed check, why.
      type: str
ready_after_s:
  description: Seconds from the start of the task until C(GET /health) answered 200; null when it never did.
  returned: always
  type: float
  sample: 41.03
ready_at:
  description: Unix time at which readiness was noticed (to compare with the engine's log timestamps).
  returned: when the server became ready
  type: float
  sample: 1764355200.12
polls:
  description: Number of readiness polls.
  returned: success
  type: int
  sample: 21
passed:
  description: True when every check passed (the module fails otherwise).
  returned: success
  type: bool
  sample: true
base_url:
  description: The server root that was checked.
  returned: always
  type: str
  sample: http://127.0.0.1:8000
served_model_name:
  description: The model name that was checked.
  returned: always
  type: str
  sample: deepseek
checks:
  description: The checks that were (to be) run, in order.
  returned: always
  type: list
  elements: str
  sample: [health, models, chat, chat_stream, auth]
api_key_masked:
  description: The API key as it may be shown (C(sk-…abcd), or C(********) for keys shorter than 16 characters); null without a key.
  returned: always
  type: str
  sample: "sk-…abcd"
failed_check:
  description: The check that failed, or V(readiness) when the wait failed.
  returned: failure
  type: str
  sample: models
msg:
  description: One line with the outcome, or the reason of the failure.
  returned: always
  type: str
  sample: "5/5 checks passed (health 1.2 ms, models 2.3 ms, chat 41 ms, chat_stream 52 ms, auth 4 ms); ready after 41.0 s at http://127.0.0.1:8000"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._failure import fail_from_exception
from ansible_collections.llmfleet.serving.plugins.module_utils._verify import ALL_CHECKS, verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            base_url=dict(type="str", default="http://127.0.0.1:8000"),
            served_model_name=dict(type="str", required=True),
            api_key=dict(type="str", no_log=True),
            timeout=dict(type="float", default=3600),
            request_timeout=dict(type="float", default=300),
            poll_interval=dict(type="float", default=2),
            unhealthy_grace=dict(type="float", default=60),
            checks=dict(type="list", elements="str", choices=list(ALL_CHECKS)),
            # "tokens" of generation, not a credential.
            max_tokens=dict(type="int", default=32, no_log=False),
            unit=dict(type="str"),
            container=dict(type="str"),
            container_cli=dict(type="str", choices=["docker", "podman"], default="docker"),
            validate_certs=dict(type="bool", default=True),
            use_proxy=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        return module.run_command(argv, check_rc=False)

    try:
        result = verify(module.params, run_command=run, bin_path=module.get_bin_path)
    except LlmfleetError as exc:
        fail_from_exception(module, exc)

    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
