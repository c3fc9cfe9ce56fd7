#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Read the NVIDIA GPUs of a host into ansible_facts.llmfleet_gpus
version_added: "0.1.0"
description:
  - Runs C(nvidia-smi --query-gpu=index,uuid,name,compute_cap,memory.total,driver_version,pci.bus_id,mig.mode.current
    --format=csv,noheader,nounits), C(nvidia-smi --version) and, when that lacks the CUDA line, plain C(nvidia-smi),
    and sets C(ansible_facts.llmfleet_gpus) the way C(llmfleet.serving.serving_plan) expects it.
  - Drivers older than 510 do not know the C(compute_cap) field; the query is then repeated without it and the
    compute capability comes from a built-in product table.
  - When nvidia-smi is not on E(PATH) and O(nvidia_smi) is not set, NVML is read through the Python module
    C(pynvml) (package nvidia-ml-py) if it is importable. nvidia-smi is always preferred; RV(ansible_facts.llmfleet_gpus.source)
    says which was used.
  - Never changes anything on the host; check mode runs the same read-only commands.
  - "What fails and what is only a fact: a missing nvidia-smi or a host with no GPU fails when O(required=true)
    and gives C(present: false) when O(required=false). An nvidia-smi that is there but fails (for example the
    driver is not loaded, exit code 9) always fails, with nvidia-smi's own message and exit code, because a GPU
    host with a broken driver must not pass for a host without GPUs. GPUs of different models and MIG mode are
    facts (RV(ansible_facts.llmfleet_gpus.uniform), RV(ansible_facts.llmfleet_gpus.mig_enabled)) with a warning;
    C(llmfleet.serving.serving_plan) refuses such hosts with its reasons."
author:
  - llmfleet founding engineers (@llmfleet)
options:
  nvidia_smi:
    description:
      - Path of the nvidia-smi binary on the host.
      - When unset, nvidia-smi is searched on E(PATH) (and the sbin directories).
    type: path
  required:
    description:
      - Whether the host must have GPUs.
      - "With V(false), a host without nvidia-smi (and without pynvml) or without any GPU gets
        C(present: false, count: 0) instead of a failure. A failing nvidia-smi still fails."
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Only reads; check mode returns the same facts.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: Sets C(ansible_facts.llmfleet_gpus).
notes:
  - Runs on the GPU host with the standard library only.
  - The fact is documented in the collection's C(docs/architecture.md); C(llmfleet.serving.serving_plan) consumes it.
seealso:
  - name: nvidia-smi documentation
    description: Fields that C(--query-gpu) accepts, and the exit codes quoted in failures.
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
"""

EXAMPLES = r"""
- name: Read the GPUs of every serving host
  llmfleet.serving.gpu_facts:

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ ansible_facts.llmfleet_gpus.count }} x {{ ansible_facts.llmfleet_gpus.product }}"

- name: Read GPUs on hosts that may have none (CPU-only routers, for example)
  llmfleet.serving.gpu_facts:
    required: false

- name: Use an nvidia-smi outside PATH
  llmfleet.serving.gpu_facts:
    nvidia_smi: /usr/local/nvidia/bin/nvidia-smi
"""

RETURN = r"""
ansible_facts:
  description: Facts set on the host.
  returned: success
  type: dict
  contains:
    llmfleet_gpus:
      description: The GPUs of the host.
      returned: success
      type: dict
      contains:
        count:
          description: Number of GPUs visible.
          type: int
          returned: always
          sample: 8
        driver_version:
          description: NVIDIA driver version; null when C(present) is false.
          type: str
          returned: always
          sample: "580.159.04"
        cuda_version:
          description:
            - Highest CUDA version the driver supports, as nvidia-smi prints it; when it prints none, the
              version from a driver-branch table (a lower bound for drivers newer than the table); null when unknown.
          type: str
          returned: always
          sample: "13.0"
        product:
          description:
            - Marketing name of the first GPU without C(NVIDIA), for example V(B200), V(H100), V(H200), V(A100),
              V(L40S), V(RTX PRO 6000). Unknown GPUs keep their full name without C(NVIDIA).
          type: str
          returned: always
          sample: H200
        architecture:
          description:
            - Family of the first GPU, from its compute capability.
            - One of V(ampere), V(ada), V(hopper), V(blackwell), V(blackwell-consumer) (sm_120/sm_121), V(unknown).
          type: str
          returned: always
          sample: hopper
        compute_capability:
          description: Compute capability of the first GPU, as a string; from the product table on drivers without C(compute_cap).
          type: str
          returned: always
          sample: "9.0"
        memory_mib:
          description: Memory of the smallest GPU in MiB.
          type: int
          returned: always
          sample: 143771
        fp8:
          description: Every GPU has FP8 tensor cores (compute capability 8.9 or later).
          type: bool
          returned: always
          sample: true
        fp4:
          description: Every GPU has FP4 tensor cores (Blackwell, compute capability 10.0 or later).
          type: bool
          returned: always
          sample: false
        uniform:
          description: All GPUs have the same name. False is reported, with a warning, not failed; serving_plan refuses it.
          type: bool
          returned: always
          sample: true
        mig_enabled:
          description: Any GPU has MIG mode Enabled. Reported with a warning, not failed; serving_plan refuses it.
          type: bool
          returned: always
          sample: false
        source:
          description: How the GPUs were read, V(nvidia-smi) or V(nvml); null when C(present) is false.
          type: str
          returned: always
          sample: nvidia-smi
        present:
          description: False only with O(required=false) on a host without nvidia-smi or without GPUs.
          type: bool
          returned: always
          sample: true
        devices:
          description: One entry per GPU, in nvidia-smi's order.
          type: list
          elements: dict
          returned: always
          sample:
            - index: 0
              uuid: GPU-ac13bc7f-9832-14c9-b7fa-3cb0e6afade9
              name: NVIDIA H200
              compute_capability: "9.0"
              memory_mib: 143771
              pci_bus_id: "00000000:00:06.0"
              mig_mode: Disabled
          contains:
            index:
              description: GPU index as nvidia-smi numbers it.
              type: int
            uuid:
              description: GPU UUID.
              type: str
            name:
              description: Full product name as nvidia-smi prints it.
              type: str
            compute_capability:
              description: Compute capability; null when neither nvidia-smi nor the product table knows it.
              type: str
            memory_mib:
              description: Total memory in MiB; null when nvidia-smi prints C([N/A]).
              type: int
            pci_bus_id:
              description: PCI bus id, C(domain:bus:device.function).
              type: str
            mig_mode:
              description: Current MIG mode, V(Enabled) or V(Disabled); null on GPUs without MIG.
              type: str
msg:
  description: One line saying what was found (or why C(present) is false).
  returned: always
  type: str
  sample: "4 x H200 (hopper, compute capability 9.0), driver 580.159.04, CUDA 13.0, read through nvidia-smi"
cmd:
  description: The nvidia-smi command that failed.
  returned: when nvidia-smi exits non-zero
  type: list
  elements: str
rc:
  description: Exit code of the failing nvidia-smi command.
  returned: when nvidia-smi exits non-zero
  type: int
  sample: 9
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import GpuDetectionError
from ansible_collections.llmfleet.serving.plugins.module_utils._failure import fail_from_exception
from ansible_collections.llmfleet.serving.plugins.module_utils._gpu import detect


def main():
    module = AnsibleModule(
        argument_spec=dict(
            nvidia_smi=dict(type="path"),
            required=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        return module.run_command(argv, check_rc=False)

    try:
        result = detect(
            run=run,
            which=lambda: module.get_bin_path("nvidia-smi"),
            nvidia_smi=module.params["nvidia_smi"],
            required=module.params["required"],
        )
    except GpuDetectionError as exc:
        fail_from_exception(module, exc)

    for warning in result["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, msg=result["msg"], ansible_facts={"llmfleet_gpus": result["facts"]})


if __name__ == "__main__":
    main()
