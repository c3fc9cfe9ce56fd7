#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_plan
short_description: Plan a whole fleet - packed replicas on every GPU and multi-node cells - in one pass
version_added: "0.2.0"
description:
  - A pure planner for the whole inventory. From every host's GPU facts (C(llmfleet_gpus), set by
    M(llmfleet.serving.gpu_facts)), its address and its serving choices (the options of
    M(llmfleet.serving.serving_plan)) it decides how many engine instances each host runs, on which GPUs, ports
    and names, and which hosts run one engine together (a cell), and returns it all as RV(fleet).
    It changes nothing and never reports C(changed).
  - Meant to run once, on the controller - C(run_once=true) and C(delegate_to=localhost) - with the facts of
    every host gathered first.
  - Every instance's plan is made by the single-host planner (the code behind M(llmfleet.serving.serving_plan)),
    so no flag is built twice. A host that runs one replica gets exactly the plan M(llmfleet.serving.serving_plan)
    would give it (C(--gpus all), the plain container name and port).
  - Packing - C(replicas_per_host=auto) runs floor(GPUs / tensor parallel size) replicas on a host, each in
    its own container with its own GPUs (docker C(--gpus '"device=0,1,2,3"'), podman one C(nvidia.com/gpu=N) per
    GPU), port C(port + index), name C(NAME) for replica 0 and C(NAME-index) for the others, and distributed port
    C(dist_port + index) (SGLang's C(--nccl-port)). 8 x B200 with vLLM at TP 4 runs 2 replicas, 8 x H200 with SGLang at TP 4 runs 2, 8 x H100
    with SGLang at TP 8 runs 1.
  - Cells - hosts with the same C(cell) run one engine instance together; rank 0 (C(node_rank), else
    inventory order) is the head. SGLang shards one tensor parallel group over every GPU of the cell
    (C(--tp N --nnodes H --node-rank R --dist-init-addr HEAD:PORT --dist-timeout 3600)); vLLM runs data parallel
    with expert parallel across the cell (C(--data-parallel-size), C(--data-parallel-size-local),
    C(--data-parallel-address), C(--data-parallel-rpc-port); workers add C(--headless --data-parallel-start-rank)).
    The memory check uses the whole cell, so two 4 x H100 hosts hold the FP8 build that one of them alone cannot.
  - Refused before any change, with the host or cell, what was found and what would work - two heads in a cell, a
    missing rank, a cell mixing GPU models, GPU counts, memory or drivers, a cell whose GPUs cannot hold the build,
    a cell of one host, two hosts of a cell with one address, C(replicas_per_host) above what the GPUs hold,
    overlapping port ranges on a host, and every refusal of M(llmfleet.serving.serving_plan).
author:
  - llmfleet founding engineers (@llmfleet)
attributes:
  check_mode:
    support: full
    description: The module never changes anything; check mode returns the same fleet plan.
  diff_mode:
    support: none
    description: A plan is returned, not applied; there is nothing to diff.
options:
  hosts:
    description:
      - Every host to plan, by inventory host name; each value a mapping with the keys below. The serve role's
        variables map onto them without their C(serve_) prefix (C(serve_replicas_per_host) -> C(replicas_per_host),
        C(serve_cell) -> C(cell), C(serve_node_rank) -> C(node_rank), C(serve_fabric_interface) ->
        C(fabric_interface), C(serve_dist_port) -> C(dist_port), C(serve_hf_hub_offline) -> C(hf_hub_offline)).
      - C(gpus) (required) - the host's C(llmfleet_gpus) fact.
      - C(address) (required) - the address clients, routers and the other ranks of a cell reach the host at (IP
        address or DNS name), for example C(ansible_host). Endpoints carry it; a cell's head address is its head's.
      - C(choices) - the host's M(llmfleet.serving.serving_plan) options (C(model), C(engine),
        C(tensor_parallel_size), C(image), C(port), C(served_model_name), C(hf_cache_dir), C(extra_args), C(env),
        C(speculative), C(container_name), C(profiles), C(publish_address), C(allow_unknown_args)), read with the
        same types and defaults as that module. C(port) and C(container_name) are the first replica's; replica
        C(i >= 1) of several uses C(port + i) and C(NAME-i).
      - C(replicas_per_host) - V(auto) (default) runs as many replicas as the GPUs hold (GPUs // tensor parallel
        size); a number runs that many and reports the GPUs left idle; V(1) is the single C(--gpus all) container
        of M(llmfleet.serving.serving_plan). On a cell host only V(auto) or V(1).
      - C(cell) - name shared by the hosts that run one engine instance together (at least two, with the same GPU
        model, count, memory and driver and the same choices); null for a host that runs its own replicas.
      - C(node_rank) - rank in the cell, 0 (the head) to hosts - 1; set on every host of a cell or on none
        (inventory order, where the first host is the head).
      - C(fabric_interface) - network interface the ranks of a cell talk over; sets C(NCCL_SOCKET_IFNAME) and
        C(GLOO_SOCKET_IFNAME) in that host's container (an NCCL list such as C(^docker,lo) is accepted).
      - C(dist_port) - first port of the engine's distributed traffic. Default 20000 for SGLang (a cell's
        C(--dist-init-addr) port, where the head also listens on the 9 ports above; a packed replica's
        C(--nccl-port) is C(dist_port + index)) and 13345 for vLLM (a cell's C(--data-parallel-rpc-port)).
        A cell uses its head's.
      - C(local_builds) - the builds M(llmfleet.serving.weights_snapshot) verified on the host, as the
        C(llmfleet.serving.weights) role records them (its C(llmfleet_weights) fact, kept across runs in
        C(llmfleet_weights.fact)), each C({model_id, cache_dir, revision, commit}). When an instance's build is
        among them - same C(model_id), C(cache_dir) equal to the host's C(hf_cache_dir), and C(revision) or
        C(commit) the one the engine loads (its C(--revision), else V(main)) - on the host and, for a cell, on every
        host of the cell, the instance's C(env) gets C(HF_HUB_OFFLINE=1) and a reason says which build. Otherwise
        the plan (and its hash) is the one without C(local_builds), so hosts that never ran the weights role are
        not restarted by an upgrade. C(playbooks/preflight.yml) passes it from each host's C(llmfleet_weights).
      - C(hf_hub_offline) - V(auto) (default) decides from C(local_builds) as above; V(true) always sets
        C(HF_HUB_OFFLINE=1) (the weights are in the cache by other means); V(false) never does. The serve role's
        variable is C(serve_hf_hub_offline). Every host of a cell must give the same value. An C(env) that sets
        C(HF_HUB_OFFLINE) itself wins.
    type: dict
    required: true
  order:
    description:
      - Inventory order of the hosts, for example C(ansible_play_hosts_all). Cells without C(node_rank)
        take their ranks from it, and it orders RV(fleet.endpoints). Hosts it does not name come last, sorted.
    type: list
    elements: str
notes:
  - A failure returns C(msg) and, beside it, C(host) and/or C(cell) (where the problem is) and C(option) (the key
    to change).
  - Cells run their containers on the host network (C(container.network=host), no published ports); the ranks
    reach each other at the hosts' own addresses.
  - Packed replicas are named C(NAME), C(NAME-1), C(NAME-2) and so on; replica 0 keeps the name a one-replica host has,
    so a shrink from N to M replicas removes exactly C(NAME-M) .. C(NAME-(N-1)). The names also name their units,
    secret directories and router servers. Earlier versions of the collection named replica 0 C(NAME-0); the
    first run after an upgrade replaces it with C(NAME) (one restart of replica 0 per packed host).
seealso:
  - module: llmfleet.serving.serving_plan
  - module: llmfleet.serving.gpu_facts
"""

EXAMPLES = r"""
- name: Read the GPUs of every host
  llmfleet.serving.gpu_facts:

- name: Plan an 8 x B200 host (2 packed vLLM replicas) and two 4 x H100 hosts as one SGLang cell
  llmfleet.serving.fleet_plan:
    hosts:
      b200-1:
        gpus: "{{ hostvars['b200-1'].ansible_facts.llmfleet_gpus }}"
        address: 10.0.0.11
        choices: {engine: vllm}
      h100-1:
        gpus: "{{ hostvars['h100-1'].ansible_facts.llmfleet_gpus }}"
        address: 10.0.0.21
        cell: h100-pair
        fabric_interface: ens1f0
      h100-2:
        gpus: "{{ hostvars['h100-2'].ansible_facts.llmfleet_gpus }}"
        address: 10.0.0.22
        cell: h100-pair
        fabric_interface: ens1f0
    order: [b200-1, h100-1, h100-2]
  run_once: true
  delegate_to: localhost
  register: planned

- name: One line per host
  ansible.builtin.debug:
    msg: "{{ planned.fleet.hosts | dict2items | map(attribute='value.summary') | list }}"

- name: What a router should balance
  ansible.builtin.debug:
    var: planned.fleet.endpoints
"""

RETURN = r"""
fleet:
  description: The fleet plan.
  returned: success
  type: dict
  contains:
    hosts:
      description: Per inventory host - C(summary) (one line), C(gpus_total), C(gpus_used), C(gpus_idle) (GPU
        indexes no instance uses) and C(instances).
      type: dict
      sample:
        b200-1:
          summary: "b200-1: 8 x B200, 8 used, 0 idle; llmfleet-deepseek vLLM TP 4 GPUs 0-3 :8000; ..."
          gpus_total: 8
          gpus_used: 8
          gpus_idle: []
          instances: []
      contains:
        instances:
          description:
            - Each instance is the complete plan RV(llmfleet.serving.serving_plan#module:plan) (image, command, env,
              container, docker_run, secrets, readiness, hash, reasons, ...) plus C(name) (the container name),
              C(index) (replica index, 0 for a cell rank), C(gpu_ids) (list of GPU indexes, or V(all)), C(role)
              (V(standalone), V(head) or V(worker)), C(cell) (name or null) and C(serves_http) (false on workers).
            - A packed replica's C(container.gpus) is the C(--gpus) value C("device=0,1,2,3") (with the double quotes
              docker needs) and C(container.gpu_ids) the list for podman's C(AddDevice=nvidia.com/gpu=N); a cell
              member's C(container.network) is V(host) and C(container.ports) is empty.
          type: list
          elements: dict
    endpoints:
      description: What clients and routers balance - standalone replicas and cell heads, never workers - each with
        C(host), C(address), C(port), C(instance), C(engine), C(served_model_name), C(health_path), C(models_path).
      type: list
      elements: dict
      sample:
        - {host: b200-1, address: 10.0.0.11, port: 8001, instance: llmfleet-deepseek-1, engine: vllm,
           served_model_name: deepseek, health_path: /health, models_path: /v1/models}
    cells:
      description: Per cell - C(hosts) (rank order), C(head), C(head_address), C(dist_port), C(gpus) (all ranks),
        C(engine), C(tensor_parallel_size), and for vLLM C(data_parallel_size).
      type: dict
      sample:
        h100-pair: {hosts: [h100-1, h100-2], head: h100-1, head_address: 10.0.0.21, dist_port: 20000, gpus: 8,
                    engine: sglang, tensor_parallel_size: 8}
    reasons:
      description: One sentence per host and cell (replicas, idle GPUs, ranks), and a last line for the fleet.
      type: list
      elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._failure import fail_from_exception
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet, read_choices

ARGUMENT_SPEC = dict(
    # Checked by the planner (raw mapping): Ansible's suboption checks would fill every host's defaults and
    # word errors without the host's name.
    hosts=dict(type="dict", required=True),
    order=dict(type="list", elements="str"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        hosts = read_choices(module.params["hosts"])
        fleet = plan_fleet(hosts, module.params["order"])
    except LlmfleetError as exc:
        fail_from_exception(module, exc)
    module.exit_json(changed=False, fleet=fleet)


if __name__ == "__main__":
    main()
