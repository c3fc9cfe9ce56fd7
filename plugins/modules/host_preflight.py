#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_preflight
short_description: Read, in one call, everything a GPU host needs before an LLM engine is deployed on it
version_added: "0.2.0"
description:
  - Gathers in one task (one round trip per host, which matters on fleets of hundreds of hosts) what the
    C(llmfleet.serving.preflight) role checks against the fleet plan before anything changes - the container
    runtime and its version, the NVIDIA container toolkit (docker - C(nvidia-container-runtime-hook) or
    C(nvidia-container-runtime) on PATH, the runtimes C(docker info) lists; podman - the CDI specs for
    C(nvidia.com/gpu) and the device names they define), the free space on the filesystem of each weights
    directory and whether a model build is already in it, and which process (and container) listens on each
    asked TCP port.
  - It reads only; it never reports C(changed). The verdict is not made here - the host only reports what it
    has; M(llmfleet.serving.fleet_plan)'s plan is compared with it on the controller by the
    C(llmfleet.serving.preflight_problems) filter.
  - With O(gpus), the same call also reads the NVIDIA GPUs into C(ansible_facts.llmfleet_gpus), through the code
    M(llmfleet.serving.gpu_facts) runs (module_utils C(_gpu)), and with O(read_json) it returns JSON files (the
    weights role's local fact), so that C(playbooks/preflight.yml) reads what the planner needs in one round trip
    per host instead of two.
  - Reachability of a multi-node cell's head is two more calls - O(listen) on the head (run it with C(async) and
    C(poll=0)), then O(connect) on each worker, then C(async_status) on the head. Each is bounded by its
    timeout, so a worker that cannot reach the head makes both ends stop, never wait for each other.
author:
  - llmfleet founding engineers (@llmfleet)
attributes:
  check_mode:
    support: full
    description: Everything is read only, so check mode runs the same probes - including O(listen), a
      temporary listener that accepts and closes connections and is gone when the module returns, and
      O(connect), which opens and closes one TCP connection and sends nothing.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
options:
  gather:
    description:
      - Read the runtime, toolkit, disk and listeners. V(false) for the reachability calls (O(listen),
        O(connect)) alone.
    type: bool
    default: true
  runtime:
    description:
      - The container runtime the serve role will use (its C(serve_runtime)).
      - V(docker) - looks for C(docker), reads C(docker --version), C(docker info) (daemon, runtimes) and the
        running containers (C(docker ps)).
      - V(podman) - looks for C(podman), reads C(podman --version) and the running containers.
      - The CDI specs under O(cdi_dirs) are read for both.
    type: str
    choices: [docker, podman]
    default: docker
  hf_cache_dirs:
    description:
      - Weights directories (the host side of the Hugging Face cache mount, C(serve_hf_cache_dir)). For each,
        the free and total bytes of the filesystem of the directory, or of its nearest existing parent when it
        does not exist yet, and for each of O(models) whether C(hub/models--ORG--NAME) holds a complete snapshot.
    type: list
    elements: path
    default: []
  models:
    description: Hugging Face model ids (C(org/name)) to look for in each of O(hf_cache_dirs).
    type: list
    elements: str
    default: []
  all_models:
    description:
      - Also report every model that has a repository directory (C(hub/models--ORG--NAME)) in each of
        O(hf_cache_dirs), for a caller that does not know the model ids yet (C(playbooks/preflight.yml) reads the
        host before it plans it, and picks the planned models out afterwards).
    type: bool
    default: false
  all_ports:
    description: Report the listeners on every TCP port, not only on O(ports) (for the same caller).
    type: bool
    default: false
  ports:
    description:
      - TCP ports to report listeners for (IPv4 and IPv6, from C(/proc/net/tcp) and C(/proc/net/tcp6)), each with
        the process and, when it runs in one, the container. Empty reports none.
      - Naming another user's process needs root (C(become=true)); without it the pid is null.
    type: list
    elements: int
    default: []
  cdi_dirs:
    description: Directories podman (and docker's CDI support) read CDI specs from.
    type: list
    elements: path
    default: [/etc/cdi, /var/run/cdi]
  command_timeout:
    description: Seconds each runtime command (C(docker info), C(docker ps), ...) may take; a daemon that does not
      answer in time is reported as not reachable.
    type: int
    default: 30
  gpus:
    description:
      - Also read the host's NVIDIA GPUs, exactly as M(llmfleet.serving.gpu_facts) with its defaults does (the same
        code, nvidia-smi on PATH, else NVML; the host must have GPUs), and set C(ansible_facts.llmfleet_gpus).
      - A host without GPUs, or whose nvidia-smi fails, fails the task with gpu_facts' message.
    type: bool
    default: false
  read_json:
    description: JSON files to return parsed in RV(read) ({} for a file that is missing or not JSON).
    type: list
    elements: path
    default: []
  listen:
    description:
      - Open a temporary TCP listener for a cell's head (on its dist port) and report who connected. Meant for
        C(async) with C(poll=0), so that the workers can connect while it runs.
      - When the port is already listened on (on a re-run, by the running engine), nothing is bound -
        C(bound) in RV(listen) is false - and the workers' connects reach what holds it, which proves the path as well.
    type: dict
    suboptions:
      port:
        description: TCP port to listen on.
        type: int
        required: true
      address:
        description: Address to bind; empty binds every IPv4 and IPv6 address.
        type: str
        default: ""
      timeout:
        description: Seconds to listen at most.
        type: float
        default: 30
      expect:
        description: Stop as soon as this many connections came (the number of workers); 0 listens the whole
          O(listen.timeout).
        type: int
        default: 0
  connect:
    description:
      - Try to open a TCP connection (a worker to its head's address and dist port) until one opens or the
        timeout passes; refused connections are retried, since the head's listener may start a moment later.
        Nothing is sent.
    type: dict
    suboptions:
      host:
        description: Address or name to connect to.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        required: true
      timeout:
        description: Seconds to keep trying.
        type: float
        default: 10
notes:
  - Standard library only; runs on the GPU hosts. Process command lines are never read into the result (an
    engine's can hold its API key); only the process name (C(comm)) and pid.
seealso:
  - module: llmfleet.serving.fleet_plan
  - module: llmfleet.serving.gpu_facts
"""

EXAMPLES = r"""
- name: Read what preflight needs on every host
  llmfleet.serving.host_preflight:
    runtime: docker
    hf_cache_dirs: [/root/.cache/huggingface]
    models: [deepseek-ai/DeepSeek-V4-Flash]
    ports: [8000, 8001]
  become: true
  register: found

- name: On a cell's head, listen on the dist port for up to 30 s
  llmfleet.serving.host_preflight:
    gather: false
    listen: {port: 20000, timeout: 30, expect: 1}
  async: 60
  poll: 0
  register: listener

- name: On each worker, connect to the head
  llmfleet.serving.host_preflight:
    gather: false
    connect: {host: 10.0.0.21, port: 20000, timeout: 20}
"""

RETURN = r"""
ansible_facts:
  description: C(llmfleet_gpus), as M(llmfleet.serving.gpu_facts) sets it.
  returned: when O(gpus)
  type: dict
gpus_msg:
  description: gpu_facts' one line on what was found.
  returned: when O(gpus)
  type: str
  sample: "8 x H100 (hopper, compute capability 9.0), driver 580.159.04, CUDA 13.0, read through nvidia-smi"
read:
  description: Path -> the parsed content of each O(read_json) file.
  returned: when O(read_json) is set
  type: dict
runtime:
  description: The container runtime - C(name), C(found), C(path), C(version) and, for docker, C(daemon)
    (C(reachable), C(version), C(runtimes), C(default_runtime), C(error)).
  returned: when gather
  type: dict
  sample: {name: docker, found: true, path: /usr/bin/docker, version: "27.3.1",
           daemon: {reachable: true, version: "27.3.1", runtimes: [io.containerd.runc.v2, nvidia, runc],
                    default_runtime: runc, error: null}}
toolkit:
  description: The NVIDIA container toolkit - C(binaries) (each of C(nvidia-container-runtime-hook),
    C(nvidia-container-runtime), C(nvidia-ctk) with its path or null) and C(cdi) (C(dirs), C(specs) - the spec
    files of kind C(nvidia.com/gpu) - C(devices) such as C(nvidia.com/gpu=0) and C(nvidia.com/gpu=all), C(errors)).
  returned: when gather
  type: dict
weights:
  description: Per O(hf_cache_dirs) entry - C(dir), C(exists), C(checked_path) (the nearest existing directory),
    C(free_bytes), C(total_bytes) and C(models) (C(model_id), C(path), C(present), C(snapshots), C(bytes) - what
    its blobs hold so far, C(incomplete) - blobs still downloading).
  returned: when gather
  type: list
  elements: dict
listeners:
  description: The listening sockets on O(ports) - C(port), C(address), C(family), C(pid), C(process),
    C(container_id) and C(container) (the runtime's name of the container, when the process runs in one or the
    container publishes the port).
  returned: when gather
  type: list
  elements: dict
containers:
  description: The runtime's running containers - C(id), C(name), C(host_ports) (published TCP ports) and
    C(llmfleet) (true when the serve role made it - it carries the C(llmfleet.plan-hash) label).
  returned: when gather
  type: list
  elements: dict
listen:
  description: The listener's outcome - C(port), C(address), C(bound) (false when the port was held already),
    C(error), C(peers) (addresses that connected), C(connections), C(seconds).
  returned: when O(listen) is set
  type: dict
connect:
  description: The connect's outcome - C(host), C(port), C(connected), C(error) (e.g. C(connection refused
    (ECONNREFUSED)), C(timed out)), C(attempts), C(source_address), C(seconds).
  returned: when O(connect) is set
  type: dict
"""

import json
import os
import re
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmfleet.serving.plugins.module_utils import _host_probe as probe
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import GpuDetectionError
from ansible_collections.llmfleet.serving.plugins.module_utils._failure import fail_from_exception
from ansible_collections.llmfleet.serving.plugins.module_utils._gpu import detect

# Where the toolkit's packages put their binaries, in case the module's PATH (a minimal sudo/ssh PATH) lacks them.
_EXTRA_BIN_DIRS = ["/usr/bin", "/usr/local/bin", "/usr/sbin", "/usr/local/sbin", "/sbin", "/bin"]
_VERSION_RE = re.compile(r"version\s+v?([0-9][^\s,]*)", re.IGNORECASE)


def _run(argv, timeout):
    """(rc, stdout, stderr) of argv; rc None when it did not finish in time or could not start."""
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=dict(os.environ, LC_ALL="C")
        )
    except subprocess.TimeoutExpired:
        return None, "", "no answer within %d s" % timeout
    except OSError as exc:
        return None, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def _first_line(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def which(name):
    """``name`` on the module's PATH first, then in the usual system directories (ansible's get_bin_path would
    look in those first, hiding the PATH the play set)."""
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    return shutil.which(name, path=os.pathsep.join(dirs + [d for d in _EXTRA_BIN_DIRS if d not in dirs]))


def gather_runtime(name, timeout):
    path = which(name)
    out = {"name": name, "found": bool(path), "path": path, "version": None}
    if not path:
        return out, []
    rc, stdout, stderr = _run([path, "--version"], timeout)
    match = _VERSION_RE.search(stdout or "")
    out["version"] = match.group(1) if match else None
    if name == "docker":
        daemon = {"reachable": False, "version": None, "runtimes": [], "default_runtime": None, "error": None}
        rc, stdout, stderr = _run([path, "info", "--format", "{{json .}}"], timeout)
        info = None
        if rc == 0:
            try:
                info = json.loads(stdout)
            except ValueError:
                info = None
        if isinstance(info, dict) and info.get("ServerVersion"):
            daemon.update(
                reachable=True,
                version=info.get("ServerVersion"),
                runtimes=sorted(info.get("Runtimes") or {}),
                default_runtime=info.get("DefaultRuntime"),
            )
        else:
            server_errors = info.get("ServerErrors") if isinstance(info, dict) else None
            daemon["error"] = (
                "; ".join(server_errors) if server_errors else (_first_line(stderr) or "docker info exited %s" % rc)
            )
        out["daemon"] = daemon
        if not daemon["reachable"]:
            return out, []
        rc, stdout, stderr = _run([path, "ps", "--no-trunc", "--format", "{{json .}}"], timeout)
    else:
        rc, stdout, stderr = _run([path, "ps", "--format", "json"], timeout)
    try:
        containers = probe.parse_docker_ps(stdout) if rc == 0 else []
    except ValueError:
        containers = []
    return out, containers


def gather(module):
    p = module.params
    runtime, containers = gather_runtime(p["runtime"], p["command_timeout"])
    binaries = {b: which(b) for b in probe.DOCKER_TOOLKIT_BINARIES + ("nvidia-ctk",)}
    toolkit = {"binaries": binaries, "cdi": probe.read_cdi(p["cdi_dirs"])}
    weights = []
    for d in p["hf_cache_dirs"]:
        models = list(p["models"])
        if p["all_models"]:
            models += [m for m in probe.cached_models(d) if m not in models]
        weights.append(probe.disk_status(d, models))
    wanted = set(p["ports"])
    sockets = [s for s in probe.read_listeners() if p["all_ports"] or s["port"] in wanted]
    owners = probe.socket_owners([s["inode"] for s in sockets])
    by_id = {c["id"]: c["name"] for c in containers if c.get("id")}
    by_port = {}
    for c in containers:
        for port in c["host_ports"]:
            by_port.setdefault(port, c["name"])
    listeners = []
    for s in sockets:
        owner = owners.get(s["inode"], {})
        cid = owner.get("container_id")
        listeners.append(
            {
                "port": s["port"],
                "address": s["address"],
                "family": s["family"],
                "pid": owner.get("pid"),
                "process": owner.get("process"),
                "container_id": cid,
                # The process is the container's own (host network), or a proxy publishing the container's port.
                "container": by_id.get(cid) or by_port.get(s["port"]),
            }
        )
    listeners.sort(key=lambda item: (item["port"], item["family"], item["address"]))
    return {
        "runtime": runtime,
        "toolkit": toolkit,
        "weights": weights,
        "listeners": listeners,
        "containers": [
            {
                "id": c["id"],
                "name": c["name"],
                "host_ports": c["host_ports"],
                "llmfleet": "llmfleet.plan-hash" in c["labels"],
            }
            for c in containers
        ],
    }


ARGUMENT_SPEC = dict(
    gather=dict(type="bool", default=True),
    runtime=dict(type="str", choices=["docker", "podman"], default="docker"),
    hf_cache_dirs=dict(type="list", elements="path", default=[]),
    models=dict(type="list", elements="str", default=[]),
    ports=dict(type="list", elements="int", default=[]),
    all_models=dict(type="bool", default=False),
    all_ports=dict(type="bool", default=False),
    cdi_dirs=dict(type="list", elements="path", default=list(probe.DEFAULT_CDI_DIRS)),
    command_timeout=dict(type="int", default=30),
    gpus=dict(type="bool", default=False),
    read_json=dict(type="list", elements="path", default=[]),
    listen=dict(
        type="dict",
        options=dict(
            port=dict(type="int", required=True),
            address=dict(type="str", default=""),
            timeout=dict(type="float", default=30),
            expect=dict(type="int", default=0),
        ),
    ),
    connect=dict(
        type="dict",
        options=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", required=True),
            timeout=dict(type="float", default=10),
        ),
    ),
)


def _check_port(module, option, port):
    if not 1 <= port <= 65535:
        module.fail_json(msg="%s %d is not a TCP port; use 1 to 65535" % (option, port), option=option)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    for port in p["ports"]:
        _check_port(module, "ports", port)
    result = {"changed": False}
    if p["listen"]:
        _check_port(module, "listen.port", p["listen"]["port"])
        if p["listen"]["timeout"] <= 0:
            module.fail_json(
                msg="listen.timeout %s must be above 0 seconds" % p["listen"]["timeout"], option="listen.timeout"
            )
    if p["connect"]:
        _check_port(module, "connect.port", p["connect"]["port"])
        if p["connect"]["timeout"] <= 0:
            module.fail_json(
                msg="connect.timeout %s must be above 0 seconds" % p["connect"]["timeout"], option="connect.timeout"
            )
    if p["gpus"]:
        # gpu_facts' own path (its defaults: nvidia-smi on PATH, GPUs required), so the fact is the same.
        try:
            found = detect(
                run=lambda argv: module.run_command(argv, check_rc=False),
                which=lambda: module.get_bin_path("nvidia-smi"),
            )
        except GpuDetectionError as exc:
            fail_from_exception(module, exc)
        for warning in found["warnings"]:
            module.warn(warning)
        result["ansible_facts"] = {"llmfleet_gpus": found["facts"]}
        result["gpus_msg"] = found["msg"]
    if p["read_json"]:
        result["read"] = {}
        for path in p["read_json"]:
            try:
                with open(path) as handle:
                    result["read"][path] = json.load(handle)
            except (OSError, ValueError):
                result["read"][path] = {}
    if p["gather"]:
        result.update(gather(module))
    if p["connect"]:
        c = p["connect"]
        result["connect"] = probe.connect(c["host"], c["port"], c["timeout"])
    if p["listen"]:
        lis = p["listen"]
        result["listen"] = probe.listen(lis["port"], lis["timeout"], lis["address"], lis["expect"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
