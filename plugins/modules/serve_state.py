#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: serve_state
short_description: Tell in one call whether a host already runs what the serve role would deploy
version_added: "0.2.0"
description:
  - Reads, in one module call, everything the C(llmfleet.serving.serve) role compares on a host whose plan did
    not change - each instance's unit file (against the bytes the role renders), the unit's state in systemd
    (active, enabled, no pending daemon-reload), the container (running, and from which restart key), the secret
    files and their directory (content digest, root-only modes), the role's local fact files, and optionally the
    server's health URL - and says whether the host is in sync.
  - A host in sync needs nothing from the role; playbooks/deploy.yml and playbooks/rollout.yml then skip it, so a
    run that changes nothing costs one round trip per host instead of the role's ~40 tasks. Anything that differs
    or cannot be read makes the host not in sync (RV(problems) says what), and the full role runs and repairs it.
  - Never changes anything; check mode runs the same reads.
author:
  - llmfleet founding engineers (@llmfleet)
options:
  runtime:
    description: The serve role's C(serve_runtime).
    type: str
    choices: [docker, podman]
    default: docker
  instances:
    description: The host's planned instances, as the serve role would deploy them.
    type: list
    elements: dict
    required: true
    suboptions:
      container:
        description: Container name.
        type: str
        required: true
      unit:
        description: The systemd service name (C(<container>.service)).
        type: str
        required: true
      unit_path:
        description: The unit file (docker) or quadlet (podman) path.
        type: path
        required: true
      unit_sha256:
        description: SHA-256 of the unit file the role renders for this instance.
        type: str
        required: true
      restart_key:
        description: The restart key the role labels the container with (plan hash + secrets digest).
        type: str
        required: true
      secret_dir:
        description: The instance's secrets directory (root-only, 0700).
        type: path
      plan_hash:
        description: The instance's plan hash (the restart key is computed from it and the secret files).
        type: str
        required: true
      hf_token_file:
        description:
          - The Hugging Face token file. Its content (and the API key env file's; V("") when absent) must give
            O(instances[].restart_key) by the role's definition, so a secret file changed or removed by hand is
            found without its content or a digest of it leaving the host.
        type: path
      env_file:
        description: The API key env file (see O(instances[].hf_token_file)).
        type: path
      health_url:
        description: A URL that answers 200 when the server is up (C(/health) on 127.0.0.1); unset for cell workers.
        type: str
  facts:
    description: The local fact files the role writes, each with the SHA-256 of its content.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The fact file.
        type: path
        required: true
      sha256:
        description: SHA-256 of its content.
        type: str
        required: true
  read_json:
    description: JSON files to return parsed in RV(read) ({} for a file that is missing or not JSON).
    type: list
    elements: path
    default: []
  health_timeout:
    description: Seconds to wait for each health URL.
    type: float
    default: 3
attributes:
  check_mode:
    support: full
    description: Only reads.
  diff_mode:
    support: none
    description: Nothing changes.
notes:
  - Runs on the GPU host with the standard library only; C(systemctl) and the runtime's CLI are each run once.
"""

EXAMPLES = r"""
- name: Is the host already what the serve role would make it?
  llmfleet.serving.serve_state:
    runtime: docker
    instances:
      - container: llmfleet-sglang
        unit: llmfleet-sglang.service
        unit_path: /etc/systemd/system/llmfleet-sglang.service
        unit_sha256: "{{ lookup('template', 'llmfleet-engine.service.j2') | hash('sha256') }}"
        restart_key: "{{ __serve_restart_key | trim }}"
        health_url: http://127.0.0.1:8000/health
  register: state
"""

RETURN = r"""
in_sync:
  description: Every planned instance and fact file matches; the serve role has nothing to do.
  returned: always
  type: bool
problems:
  description: "What differs, one line each (C(<container>: <what>)); empty when in sync."
  returned: always
  type: list
  elements: str
instances:
  description: Per planned instance, in the given order, with C(container), C(in_sync) and C(problems).
  returned: always
  type: list
  elements: dict
running:
  description: Container name -> the restart-key label of every running container among the planned ones.
  returned: always
  type: dict
read:
  description: Path -> the parsed content of each O(read_json) file.
  returned: always
  type: dict
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

# The one definition of the restart key (also the serve role's, through the serve_restart_key filter).
from ansible_collections.llmfleet.serving.plugins.module_utils._restart import restart_key
from ansible_collections.llmfleet.serving.plugins.module_utils._serve_state import (
    host_state,
    parse_inspect,
    parse_systemctl_show,
    sha256_bytes,
)

CLI = {"docker": "/usr/bin/docker", "podman": "/usr/bin/podman"}


def read_file(path):
    """{sha256, mode, uid, regular} or {directory, mode, uid} or None (absent or unreadable)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    info = {
        "mode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "regular": stat.S_ISREG(st.st_mode),
        "directory": stat.S_ISDIR(st.st_mode),
    }
    if info["regular"]:
        try:
            with open(path, "rb") as handle:
                info["sha256"] = sha256_bytes(handle.read())
        except OSError:
            return None
    return info


def read_text(path):
    """A secret file's content, "" when absent (the role's content for a secret it does not write)."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def probe(url, timeout):
    try:
        resp = open_url(url, method="GET", timeout=timeout, validate_certs=False)
        code = resp.getcode()
        return None if code == 200 else "HTTP %s" % code
    except Exception as exc:  # any failure means "not up"; the role's wait then tells the story
        return str(exc) or exc.__class__.__name__


def main():
    module = AnsibleModule(
        argument_spec=dict(
            runtime=dict(type="str", choices=["docker", "podman"], default="docker"),
            instances=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    container=dict(type="str", required=True),
                    unit=dict(type="str", required=True),
                    unit_path=dict(type="path", required=True),
                    unit_sha256=dict(type="str", required=True),
                    restart_key=dict(type="str", required=True, no_log=False),
                    secret_dir=dict(type="path", no_log=False),
                    plan_hash=dict(type="str", required=True),
                    hf_token_file=dict(type="path", no_log=False),
                    env_file=dict(type="path"),
                    health_url=dict(type="str"),
                ),
            ),
            facts=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(path=dict(type="path", required=True), sha256=dict(type="str", required=True)),
            ),
            read_json=dict(type="list", elements="path", default=[]),
            health_timeout=dict(type="float", default=3),
        ),
        supports_check_mode=True,
    )
    p = module.params
    instances = p["instances"]
    units, containers = {}, {}
    if instances:
        rc, out, _err = module.run_command(
            ["systemctl", "show", "--property=Id,ActiveState,UnitFileState,NeedDaemonReload"]
            + [i["unit"] for i in instances]
        )
        units = parse_systemctl_show(out)
        cli = CLI[p["runtime"]]
        if os.path.exists(cli):
            # Only the name, the running state and the restart-key label: a full inspect holds the secrets.
            fmt = '{{.Name}} {{.State.Running}} {{index .Config.Labels "llmfleet.restart-key"}}'
            # A container that does not exist is an error line on stderr; the others still print.
            rc, out, _err = module.run_command(
                [cli, "inspect", "--type", "container", "--format", fmt] + [i["container"] for i in instances]
            )
            containers = parse_inspect(out)
    paths = set(f["path"] for f in p["facts"])
    for inst in instances:
        paths.add(inst["unit_path"])
        if inst.get("secret_dir"):
            paths.add(inst["secret_dir"])
        paths.update(f for f in (inst.get("hf_token_file"), inst.get("env_file")) if f)
    files = {path: read_file(path) for path in paths}
    files = {k: v for k, v in files.items() if v is not None}
    # The secrets are read here, only to compute the restart key they give; neither they nor a digest leave.
    secrets_keys = {}
    for inst in instances:
        if inst.get("hf_token_file") and inst.get("env_file"):
            secrets_keys[inst["container"]] = restart_key(
                inst["plan_hash"], read_text(inst["hf_token_file"]), read_text(inst["env_file"])
            )
    health = {}
    for inst in instances:
        c = containers.get(inst["container"]) or {}
        if inst.get("health_url") and c.get("running"):
            health[inst["health_url"]] = probe(inst["health_url"], p["health_timeout"])
    result = host_state(instances, p["runtime"], p["facts"], units, containers, files, health, secrets_keys)
    read = {}
    for path in p["read_json"]:
        try:
            with open(path) as handle:
                read[path] = json.load(handle)
        except (OSError, ValueError):
            read[path] = {}
    module.exit_json(changed=False, read=read, **result)


if __name__ == "__main__":
    main()
