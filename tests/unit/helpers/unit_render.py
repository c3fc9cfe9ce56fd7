"""Render the serve role's PRODUCTION templates the way the role does, for many cases in one go.

One ansible-playbook run (connection local) with one inventory host per case: the role's
defaults/main.yml are the inventory's group vars (lowest precedence, as role defaults), each case's
serve_* variables and its plan (llmfleet_plan, made by _plan.build_plan) are host vars, and the role's
vars/main.yml is loaded as vars_files. The files are written by ansible.builtin.template with the
role's own template files, so ansible_managed, the search path and trim_blocks are the role's.

For each host it writes OUT/<host>.service or OUT/<host>.container (by serve_runtime), the secret
files' content (<host>.env, <host>.hf_token, as secrets.yml writes them), <host>.keys.json (plan hash,
restart key, paths), and, for docker, <host>.recorder.service: the same unit with the container CLI
(__serve_cli) set to the path of a test double that records its argv. A case whose template refuses
its values writes <host>.error with the task's message instead.

render(cases, out_dir, role_dir=ROLE) -> {host: {"unit": str, "recorder_unit": str, "env": str,
"hf_token": str, "keys": dict, "error": str}} (keys absent when the file was not written).
"""

import json
import sys
from pathlib import Path

import yaml

from helpers.paths import ROOT
from helpers.playbook import run_playbook

ROLE = ROOT / "roles" / "serve"
RECORDER_PATH = "/usr/local/libexec/llmfleet-test/argv-recorder"

_PLAYBOOK = """
- name: Render the serve role's unit templates
  hosts: all
  gather_facts: false
  vars_files:
    - "{{ uq_role_dir }}/vars/main.yml"
  tasks:
    - name: Render
      block:
        - name: Render the unit or quadlet and the secret files' content
          ansible.builtin.set_fact:
            uq_result:
              unit: >-
                {{ lookup('ansible.builtin.template', uq_role_dir ~ '/templates/llmfleet-engine.'
                          ~ ('service' if serve_runtime == 'docker' else 'container') ~ '.j2') }}
              recorder_unit: >-
                {{ lookup('ansible.builtin.template', uq_role_dir ~ '/templates/llmfleet-engine.service.j2',
                          template_vars={'__serve_cli': uq_recorder}) if serve_runtime == 'docker' else none }}
              env: "{{ __serve_env_content if serve_api_key | length > 0 else none }}"
              hf_token: "{{ __serve_hf_token_content if serve_hf_token | length > 0 else none }}"
              keys:
                plan_hash: "{{ __serve_plan.hash }}"
                restart_key: "{{ __serve_restart_key }}"
                unit: "{{ __serve_unit }}"
                name: "{{ __serve_name }}"
                env_file: "{{ __serve_env_file }}"
                hf_token_file: "{{ __serve_hf_token_file }}"
                api_key_var: "{{ __serve_api_key_var }}"
      rescue:
        - name: Keep the refusal
          ansible.builtin.set_fact:
            uq_result:
              error: "{{ ansible_failed_result.msg }}"
    # The lookup renders as the template action does (same engine, search path, ansible_managed,
    # trim_blocks); for one host the action itself writes the file, and the caller compares the two.
    - name: Write one unit with the template action itself
      ansible.builtin.template:
        src: "{{ uq_role_dir }}/templates/llmfleet-engine.{{ 'service' if serve_runtime == 'docker' else 'container' }}.j2"
        dest: "{{ uq_out }}/{{ inventory_hostname }}.action"
        mode: "0644"
      when: inventory_hostname in uq_action_hosts
    - name: Report
      ansible.builtin.debug:
        var: uq_result
"""


def render(cases, out_dir, role_dir=ROLE, action_hosts=()):
    """cases: {host: {serve_* vars..., "llmfleet_plan": plan}}; action_hosts: hosts whose unit the
    template action also writes (returned as "action")."""
    out_dir = Path(out_dir)
    files = out_dir / "files"
    files.mkdir(parents=True, exist_ok=True)
    defaults = yaml.safe_load((Path(role_dir) / "defaults" / "main.yml").read_text())
    hosts = {
        host: dict(case, ansible_connection="local", ansible_python_interpreter=sys.executable)
        for host, case in cases.items()
    }
    (out_dir / "inventory.json").write_text(json.dumps({"all": {"vars": defaults, "hosts": hosts}}))
    (out_dir / "render.yml").write_text(_PLAYBOOK)
    extra = {
        "uq_role_dir": str(role_dir),
        "uq_out": str(files),
        "uq_recorder": RECORDER_PATH,
        "uq_action_hosts": list(action_hosts),
    }
    proc, output = run_playbook(
        out_dir / "render.yml",
        out_dir / "inventory.json",
        "-e",
        json.dumps(extra),
        workdir=out_dir,
        env={"ANSIBLE_FORKS": "8"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = [t for t in output["plays"][0]["tasks"] if t["task"]["name"] == "Report"][0]
    result = {}
    for host in cases:
        got = {k: v for k, v in report["hosts"][host]["uq_result"].items() if v is not None}
        action = files / (host + ".action")
        if action.exists():
            got["action"] = action.read_text()
        result[host] = got
    return result
