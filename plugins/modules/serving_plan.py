#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: serving_plan
short_description: Plan how to serve a large model on a host's GPUs (vLLM or SGLang in a container)
version_added: "0.1.0"
description:
  - A pure planner. From a model profile, the host's GPU facts (C(llmfleet_gpus), set by
    M(llmfleet.serving.gpu_facts)) and the user's choices it computes one serving plan - engine, weights build,
    container image, tensor parallelism, environment, the engine's argument vector and an equivalent C(docker run) -
    and returns it as RV(plan). It changes nothing; given O(previous_plan) it reports C(changed) when the new plan
    would change the running server (so C(--check --diff) shows what a deploy would restart for).
  - The same inputs give the same plan, byte for byte. RV(plan.hash) is a digest of everything that makes up the
    running server, so a role can restart the server only when the hash changes.
  - For 8 x B200 with O(engine=sglang), 8 x H100 with O(engine=sglang) and 8 x B200 with O(engine=vllm),
    the plan reproduces the three C(docker run) commands of the DeepSeek-V4-Flash seed guide token for token.
  - Impossible plans are refused with a message that names what was found, why it cannot work and what would -
    for example A100, L40S or RTX PRO 6000 GPUs, mixed GPU models, MIG, C(engine=vllm) on Hopper, a tensor
    parallel size that does not divide the GPU count, weights that do not fit in GPU memory (with the arithmetic),
    or a driver older than the image's CUDA needs.
  - Model profiles are data. The built-in profile C(deepseek-v4-flash) lives in
    C(plugins/module_utils/_profiles.py); O(profiles) adds profiles or replaces built-in ones by name.
  - Secrets never enter the planner. RV(plan.secrets) says how the chosen engine takes each secret, so the serve
    role can hand them over without putting them on a command line.
author:
  - llmfleet founding engineers (@llmfleet)
attributes:
  check_mode:
    support: full
    description: The module never changes anything; check mode returns the same plan.
  diff_mode:
    support: full
    description: >-
      With O(previous_plan), the diff lists what the new plan changes in the running server, one
      C(key: value) line per changed key (for example C(tensor_parallel_size: 4) before, C(8) after).
options:
  model:
    description:
      - Name of the model profile to plan for. C(deepseek-v4-flash) is built in; O(profiles) can add more.
    type: str
    default: deepseek-v4-flash
  engine:
    description:
      - Inference engine. V(auto) picks by GPU architecture as the profile says; for C(deepseek-v4-flash)
        vLLM on Blackwell (the seed's best measured B200 output throughput, 1,469 tok/s, was vLLM's) and
        SGLang on Hopper (the seed serves Hopper only with SGLang and the FP8 build).
    type: str
    choices: [vllm, sglang, auto]
    default: auto
  gpus:
    description:
      - The C(llmfleet_gpus) fact of the host that will serve, as set by M(llmfleet.serving.gpu_facts)
        (keys C(count), C(product), C(architecture), C(compute_capability), C(memory_mib), C(driver_version),
        C(cuda_version), C(fp4), C(uniform), C(mig_enabled), C(present), C(devices)).
    type: dict
    required: true
  tensor_parallel_size:
    description:
      - Number of GPUs one model replica is sharded over, 1 to 64. Must divide the GPU count and not exceed it.
      - Default is the matching deployment's value (4 on B200, 8 on H100, 4 on H200); on a host with fewer GPUs
        the largest value that divides both the GPU count and that value.
    type: int
  image:
    description:
      - Container image to run instead of the deployment's. A C(cuNNN) tag is still checked against the driver
        (C(cu130) needs driver 580 or newer, C(cu129) 575).
      - Must be a valid image reference, C([REGISTRY[:PORT]/]PATH[:TAG][@sha256:DIGEST]) with a lowercase
        C(PATH) (Docker's grammar), for example C(vllm/vllm-openai:deepseekv4-cu130),
        C(localhost/engine:1) or C(registry.local:5000/team/img@sha256:<64 hex digits>); C(foo:),
        C(--privileged), C(UPPER/x) or a value with spaces are refused before anything changes.
    type: str
  port:
    description:
      - TCP port the server listens on, on the host and in the container.
    type: int
    default: 8000
  publish_address:
    description:
      - Host address the port is published on (C(docker run -p ADDR:PORT:PORT)); an IPv4 or IPv6 address such as
        V(127.0.0.1), V(10.0.0.5) or V(::1). Host names are refused (they are not resolved here).
      - The empty string publishes on all interfaces, as the seed's C(-p 8000:8000) does; then the plan and its
        hash are those of earlier releases.
    type: str
    default: ""
  served_model_name:
    description:
      - Model name the OpenAI-compatible API serves (what clients send as C(model)).
      - 1 to 128 letters, digits and C(_), C(.), C(:), C(/), C(@), C(+), C(-), starting with a letter or digit (so
        V(deepseek) and V(deepseek-ai/DeepSeek-V4-Flash) work); whitespace, quotes, control characters, C($) and
        C(%) are refused.
    type: str
    default: deepseek
  hf_cache_dir:
    description:
      - Absolute host directory mounted at C(/root/.cache/huggingface) in the container for the weights.
      - The seed mounts C(~/.cache/huggingface); the serve role's unit runs docker as root, hence C(/root).
      - It is mounted read-write into the engine's container, so it must be absolute and in normal form (no
        C(..), C(//) or trailing C(/)), hold no C(:) or C(,) (bind-mount separators), and be neither C(/) nor a
        system directory (C(/etc), C(/usr), C(/bin), C(/sbin), C(/lib), C(/lib64), C(/boot), C(/dev), C(/proc),
        C(/sys), C(/run), C(/var), C(/root), C(/home), C(/tmp)) nor under C(/etc), C(/usr), C(/proc), C(/sys),
        C(/dev) or C(/boot).
    type: str
    default: /root/.cache/huggingface
  extra_args:
    description:
      - Engine arguments appended after the deployment's arguments.
      - A flag the plan already sets (in any spelling the engine accepts, for example C(--tp-size) for SGLang's
        C(--tp) or C(--kv_cache_dtype) for vLLM's C(--kv-cache-dtype)) is refused; use the matching option or a
        profile override. C(--api-key) is refused because secrets go to the serve role.
      - Every flag must be one the engine's own parser accepts, in the flag catalog
        C(plugins/module_utils/_engine_flags.py) generated from vLLM's and SGLang's argument parsers for the
        release the deployment names (C(engine_version), default vLLM 0.33.0 and SGLang 0.5.23); C(--flag=value),
        vLLM's C(--flag_name) spelling and C(--no-flag) forms are read as the engine reads them. An unknown flag is
        refused with the closest known ones, unless O(allow_unknown_args=true).
      - Must be a list; a single string such as V(--a --b) is refused rather than split.
    type: raw
    default: []
  allow_unknown_args:
    description:
      - Pass O(extra_args) flags the flag catalog does not know (an image with a newer or patched engine).
        The engine exits at start on a flag it lacks, so leave it V(false) unless the image has the flag.
    type: bool
    default: false
  env:
    description:
      - Environment variables for the container, merged over the deployment's. Values are strings (numbers are
        converted; booleans and null are refused so the engine gets exactly the text intended).
      - Secret variables (C(HF_TOKEN), C(HUGGING_FACE_HUB_TOKEN), C(VLLM_API_KEY)) are refused, and so are
        control characters (line breaks, tabs...) in names and values.
      - Must be a mapping; a C(K=V) string is refused rather than split.
    type: raw
    default: {}
  speculative:
    description:
      - Speculative decoding. Unset means the deployment's default (on for the seed's SGLang commands, which use
        EAGLE; off for the seed's vLLM command). V(false) removes exactly the speculative flags; V(true) on vLLM
        adds the recipe's MTP configuration.
    type: bool
  container_name:
    description:
      - Name of the container. Default C(llmfleet-<served_model_name>) (characters a name cannot hold become C(-)).
      - The name also names the systemd unit and files under the serve role's directories, so it must be 1 to 128
        letters, digits, C(_), C(.) and C(-), starting with a letter or digit; the filter
        C(llmfleet.serving.instance_name) applies the same rule in plays.
    type: str
  profiles:
    description:
      - User model profiles, by name, with the same shape as the built-in ones in
        C(plugins/module_utils/_profiles.py). A profile with a built-in name replaces the built-in one as a whole.
      - Every profile given is validated; a malformed one fails with the profile name, the key and the expected type.
        Control characters anywhere in a profile (keys and values) and invalid image references are refused.
      - A deployment may name C(engine_version), the engine release whose flag catalog checks O(extra_args).
    type: dict
    default: {}
  previous_plan:
    description:
      - The plan the running server was deployed from (the serve role passes the C(llmfleet_plan) local fact it
        left on the host). The module then reports what the new plan changes, key by key (RV(changes)), whether
        the server must restart (RV(restart_required)) and, in diff mode, a before/after diff of those keys.
      - Only the keys that make up the running server (those RV(plan.hash) covers) are compared.
      - Omitted, nothing is compared and RV(changes) is not returned; an empty mapping (nothing deployed yet) counts
        every such key as changed.
    type: dict
notes:
  - A failure returns C(option), the option to change (for example C(extra_args), C(image), C(gpus),
    C(profiles)), beside C(msg).
  - Memory check - weights size / tensor parallel size plus the profile's KV-cache headroom (10 GB per GPU for
    C(deepseek-v4-flash)) must fit in the engine's memory fraction of the smallest GPU.
  - RV(plan.docker_run) is the equivalent C(docker run) without the container name and secrets, which the serve
    role adds.
seealso:
  - module: llmfleet.serving.gpu_facts
"""

EXAMPLES = r"""
- name: Read the GPUs
  llmfleet.serving.gpu_facts:

- name: Plan DeepSeek-V4-Flash with the engine the GPUs suit best
  llmfleet.serving.serving_plan:
    gpus: "{{ ansible_facts.llmfleet_gpus }}"
  register: serving

- name: Show why
  ansible.builtin.debug:
    var: serving.plan.reasons

- name: SGLang without speculative decoding, on another port, with an extra flag
  llmfleet.serving.serving_plan:
    gpus: "{{ ansible_facts.llmfleet_gpus }}"
    engine: sglang
    speculative: false
    port: 8080
    extra_args: [--swa-full-tokens-ratio, "0.1"]
    env:
      NCCL_DEBUG: WARN

- name: Publish on loopback only, with a flag newer than the flag catalog knows
  llmfleet.serving.serving_plan:
    gpus: "{{ ansible_facts.llmfleet_gpus }}"
    engine: vllm
    publish_address: 127.0.0.1
    image: registry.local:5000/team/vllm-openai:deepseekv4-cu130-patched
    extra_args: [--my-patched-flag]
    allow_unknown_args: true

- name: Add a model profile of your own
  llmfleet.serving.serving_plan:
    gpus: "{{ ansible_facts.llmfleet_gpus }}"
    model: my-model
    engine: vllm
    profiles:
      my-model:
        builds:
          bf16: {model_id: my-org/my-model, size_gb: 60, label: BF16 build}
        deployments:
          - name: hopper-vllm
            engine: vllm
            architectures: [hopper, blackwell]
            build: bf16
            image: vllm/vllm-openai:v0.20.0
            tensor_parallel_size: 2
            mem_fraction: 0.9
            command: [--model, "{model_id}", --served-model-name, "{served_model_name}",
                      --tensor-parallel-size, "{tensor_parallel_size}", --gpu-memory-utilization, "{mem_fraction}"]
"""

RETURN = r"""
changes:
  description: >-
    With O(previous_plan), one entry per key of the running server that the new plan changes - C(key)
    (a dotted path such as C(env.NCCL_DEBUG)), C(before), C(after) and a one-line C(summary).
  returned: when previous_plan is given
  type: list
  elements: dict
  sample:
    - {key: tensor_parallel_size, before: 4, after: 8, summary: "tensor_parallel_size: 4 -> 8"}
restart_required:
  description: With O(previous_plan), whether the plan hash differs, that is whether the running server must restart.
  returned: when previous_plan is given
  type: bool
plan:
  description: The serving plan. The serve role renders RV(plan.container), RV(plan.env), RV(plan.image) and
    RV(plan.command) into a unit and never derives a flag of its own.
  returned: success
  type: dict
  contains:
    profile:
      description: Model profile used.
      type: str
      sample: deepseek-v4-flash
    deployment:
      description: Name of the profile's deployment entry that matched the GPUs and engine.
      type: str
      sample: b200-vllm
    engine:
      description: Inference engine, V(vllm) or V(sglang).
      type: str
      sample: vllm
    model_id:
      description: Weights repository the engine loads.
      type: str
      sample: deepseek-ai/DeepSeek-V4-Flash
    weights:
      description: Name of the weights build in the profile (C(native) FP4+FP8 or C(fp8)).
      type: str
      sample: native
    weights_size_gb:
      description: Size of the weights on disk, in GB (decimal).
      type: float
      sample: 146
    image:
      description: Container image.
      type: str
      sample: vllm/vllm-openai:deepseekv4-cu130
    min_driver:
      description: Oldest NVIDIA driver major version the image's CUDA needs (from a C(cuNNN) tag); null when the
        tag names no CUDA version.
      type: str
      sample: "580"
    served_model_name:
      description: Model name the API serves.
      type: str
      sample: deepseek
    port:
      description: TCP port on the host and in the container.
      type: int
      sample: 8000
    publish_address:
      description: Host address the port is published on; empty for all interfaces.
      type: str
      sample: ""
    tensor_parallel_size:
      description: GPUs one replica is sharded over.
      type: int
      sample: 4
    env:
      description: Non-secret environment of the container, sorted by name.
      type: dict
      sample: {SGLANG_DSV4_FP4_EXPERTS: "0"}
    command:
      description: Argument vector given to the container after the image (vLLM's image entrypoint is the server;
        for SGLang it starts with C(python3 -m sglang.launch_server)).
      type: list
      elements: str
      sample: [--model, deepseek-ai/DeepSeek-V4-Flash, --served-model-name, deepseek, --tensor-parallel-size, "4"]
    container:
      description: How the container runs.
      type: dict
      contains:
        name:
          description: Container name.
          type: str
          sample: llmfleet-deepseek
        gpus:
          description: Value of C(--gpus).
          type: str
          sample: all
        ipc:
          description: IPC namespace mode (C(--ipc)).
          type: str
          sample: host
        shm_size:
          description: C(--shm-size) when the deployment asks for one, else null.
          type: str
          sample: null
        ports:
          description: Published ports, each C(HOST_PORT:CONTAINER_PORT), or C(ADDR:HOST_PORT:CONTAINER_PORT) with
            O(publish_address) (C([ADDR]:...) for IPv6).
          type: list
          elements: str
          sample: ["8000:8000"]
        volumes:
          description: Bind mounts, each C(HOST_DIR:CONTAINER_DIR).
          type: list
          elements: str
          sample: ["/root/.cache/huggingface:/root/.cache/huggingface"]
    docker_run:
      description: Argument vector of an equivalent C(docker run) (as in the seed guide; no name, no secrets).
      type: list
      elements: str
      sample: [docker, run, -d, --gpus, all, --ipc=host, -p, "8000:8000", -v,
               "/root/.cache/huggingface:/root/.cache/huggingface", "vllm/vllm-openai:deepseekv4-cu130", --model]
    secrets:
      description:
        - How each secret reaches this engine (never the values).
        - "C(api_key) - vLLM reads the environment variable C(VLLM_API_KEY) (C(via=env)); SGLang takes the argument
          C(--api-key) (C(via=arg))."
        - "C(hf_token) - a file mounted at C(mount) whose path is in the environment variable C(env) (C(via=file))."
      type: dict
      sample:
        api_key: {via: env, name: VLLM_API_KEY}
        hf_token: {via: file, env: HF_TOKEN_PATH, mount: /run/secrets/hf_token}
    readiness:
      description: How to tell the server is ready - C(health_path), C(models_path) and C(timeout_s) (V4 can load
        for up to an hour).
      type: dict
      sample: {health_path: /health, models_path: /v1/models, timeout_s: 3600}
    stop_timeout_s:
      description: Seconds a stop gives the engine's graceful drain before SIGKILL (C(docker stop -t) in the serve role's
        unit, C(--stop-timeout) in its podman quadlet); systemd's C(TimeoutStopSec=) is 30 s more. Not part of RV(plan.hash).
      type: int
      sample: 60
    hash:
      description: sha256 of the canonical JSON (sorted keys, no spaces) of C(engine), C(model_id), C(image),
        C(served_model_name), C(port), C(tensor_parallel_size), C(env), C(command), C(container) and C(secrets) -
        everything that changes the running server; not of C(reasons).
      type: str
      sample: 3f0c...e9
    reasons:
      description: One sentence per choice - engine, weights build, image and its source, tensor parallel size,
        the memory arithmetic, the driver check, speculative decoding, overrides.
      type: list
      elements: str
      sample:
        - "H100 (hopper, compute capability 9.0) has no FP4 tensor cores: using the FP8 build
          sgl-project/DeepSeek-V4-Flash-FP8 (284 GB)."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._failure import fail_from_exception
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import HASHED_KEYS, build_plan
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_diff import plan_changes, plan_diff
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_options import PLAN_CHOICES_SPEC

# The plan choices are the ones fleet_plan reads per host (one spec, _plan_options.PLAN_CHOICES_SPEC).
ARGUMENT_SPEC = dict(PLAN_CHOICES_SPEC, gpus=dict(type="dict", required=True))


def main():
    module = AnsibleModule(argument_spec=dict(ARGUMENT_SPEC, previous_plan=dict(type="dict")), supports_check_mode=True)
    params = dict(module.params)
    previous = params.pop("previous_plan")
    try:
        plan = build_plan(**params)
    except LlmfleetError as exc:
        # details carry `option`, the module option to change (a role maps it to its own variable);
        # fail_from_exception makes each detail a top-level result key.
        fail_from_exception(module, exc)
    if previous is None:
        module.exit_json(changed=False, plan=plan)
    # Compared with what runs: "changed" means the server would change, so --check --diff shows it.
    changes = plan_changes(previous, plan, HASHED_KEYS)
    result = dict(plan=plan, changes=changes, restart_required=previous.get("hash") != plan["hash"])
    result["changed"] = result["restart_required"]
    if module._diff:
        result["diff"] = plan_diff(previous, plan, HASHED_KEYS)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
