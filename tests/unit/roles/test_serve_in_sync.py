"""The serve role's in_sync check (tasks/in_sync.yml) compares a host with what the role itself writes: the unit
it renders through the template lookup must be byte for byte the file the template task writes, and the fact files
it expects the ones tasks/facts.yml writes. Were they to differ, every no-change deploy would run the whole role
(slow, never wrong); this keeps the fast path real. Runs on this machine (connection local): facts and secrets go
under tmp_path; the module only reads (systemctl show, docker inspect of a container that does not exist)."""

import hashlib
import json
import sys

import pytest
from helpers import gpu_fact_samples as samples
from helpers.paths import ROOT
from helpers.playbook import run_playbook, task_result

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

pytestmark = pytest.mark.slow

PLAY = """\
- hosts: node1
  gather_facts: false
  tasks:
    - name: Validate
      ansible.builtin.include_role: {name: llmfleet.serving.serve, tasks_from: validate, public: true}
    - name: First in_sync (nothing deployed)
      ansible.builtin.include_role: {name: llmfleet.serving.serve, tasks_from: in_sync, public: true}
    - name: Keep the first verdict
      ansible.builtin.set_fact: {first_state: "{{ __serve_state }}", first_in_sync: "{{ __serve_in_sync }}"}
    # What tasks/present.yml sets before its instance loop, then the facts as the loop leaves them.
    - name: Planned instances
      ansible.builtin.set_fact:
        __serve_instances_planned: "{{ llmfleet_fleet.hosts.node1.instances }}"
    - name: Write the facts as the role does, instance after instance
      ansible.builtin.include_role: {name: llmfleet.serving.serve, tasks_from: facts}
      loop: "{{ llmfleet_fleet.hosts.node1.instances }}"
      vars:
        __serve_plan: "{{ item }}"
    - name: Render each unit with the role's template task
      ansible.builtin.template:
        src: ROOT/roles/serve/templates/llmfleet-engine.service.j2
        dest: "{{ out_dir }}/{{ item.container.name }}.service"
        mode: "0644"
      loop: "{{ llmfleet_fleet.hosts.node1.instances }}"
      vars:
        __serve_plan: "{{ item }}"
    - name: Second in_sync (facts written)
      ansible.builtin.include_role: {name: llmfleet.serving.serve, tasks_from: in_sync, public: true}
    - name: Keep in_sync's restart keys
      ansible.builtin.set_fact: {sync_keys: "{{ llmfleet_restart_keys }}"}
    - name: The role's restart keys
      ansible.builtin.include_role: {name: llmfleet.serving.serve, tasks_from: restart_keys}
    - name: Report
      ansible.builtin.debug:
        msg:
          expected: "{{ __serve_sync_expected }}"
          state: "{{ __serve_state }}"
          in_sync: "{{ __serve_in_sync }}"
          first: "{{ first_state }}"
          first_in_sync: "{{ first_in_sync }}"
          sync_keys: "{{ sync_keys }}"
          role_keys: "{{ llmfleet_restart_keys }}"
"""


def test_in_sync_expects_exactly_what_the_role_writes(tmp_path):
    fleet = plan_fleet(
        {
            "node1": {
                "gpus": samples.b200x8(),
                "address": "127.0.0.1",
                "choices": {"engine": "vllm", "tensor_parallel_size": 4},
            }
        }
    )
    out_dir = tmp_path / "units"
    out_dir.mkdir()
    play = tmp_path / "play.yml"
    play.write_text(PLAY.replace("ROOT", str(ROOT)))
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "serve_secrets_dir": str(tmp_path / "secrets"),
        "serve_fact_dir": str(tmp_path / "facts"),
        "serve_api_key": "sk-TESTONLY-in-sync-1c9e",
        # Names no unit or container of this machine.
        "serve_container_name": "llmfleet-insync-test",
        "out_dir": str(out_dir),
    }
    proc, out = run_playbook(
        play, {"all": {"hosts": {"node1": host}}}, "-e", json.dumps({"llmfleet_fleet": fleet}), workdir=tmp_path
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    msg = task_result(out, "Report")["msg"]
    expected, state = msg["expected"], msg["state"]
    names = [i["container"]["name"] for i in fleet["hosts"]["node1"]["instances"]]
    assert [e["container"] for e in expected] == names and len(names) == 2
    # The unit the template task wrote has the bytes in_sync expects, instance by instance.
    for e in expected:
        written = (out_dir / (e["container"] + ".service")).read_bytes()
        assert hashlib.sha256(written).hexdigest() == e["unit_sha256"], e["container"]
    # Nothing deployed: not in sync, and the fact files were named missing.
    assert msg["first_in_sync"] is False
    assert any("fact file" in p and "is missing" in p for p in msg["first"]["problems"]), msg["first"]["problems"]
    # Facts written as the role writes them: no fact file problem is left (units and containers still are).
    assert msg["in_sync"] is False
    assert not [p for p in state["problems"] if "fact file" in p], state["problems"]
    assert any("does not exist" in p for p in state["problems"])
    # The restart keys are the role's: the same as tasks/restart_keys.yml computes (its definition, vars/main.yml).
    assert msg["sync_keys"] == msg["role_keys"] and sorted(msg["role_keys"]) == sorted(names)
    assert [e["restart_key"] for e in expected] == [msg["role_keys"][n] for n in names]
