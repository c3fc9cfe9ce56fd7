"""The serve role's restart decision, run by the role itself on this machine (issue 10 item 3).

No systemd or engine runs here, so the role runs against test doubles: a first run (serve_start false) writes
the unit, the secret files and the local facts under tmp_path (the unit directories are moved there with extra
vars); then each case re-runs the role in check mode with serve_start true, a fake ``docker`` that answers the
role's ``inspect`` with a running container carrying the restart-key label the first run's unit holds, and a
fake ``systemctl`` that reports the service active. The role's own tasks decide; the case reads whether its
"Restart the service" task would restart (changed) or was skipped, and what the role said.
"""

import json
import os
import re
import stat
import sys

import pytest
from helpers.playbook import run_playbook, task_result
from helpers.serve_role import DOUBLE_DIR, GPUS, KEY

pytestmark = pytest.mark.slow

FAKE_DOCKER = """#!/bin/sh
# inspect --type container ...: the container the case describes ($LLMFLEET_FAKE_INSPECT), else none.
echo "$*" >> "$LLMFLEET_FAKE_LOG"
if [ "$1" = inspect ] && [ -s "$LLMFLEET_FAKE_INSPECT" ]; then cat "$LLMFLEET_FAKE_INSPECT"; exit 0; fi
echo "Error: No such object" >&2; exit 1
"""

# What ansible.builtin.systemd_service and the role's systemctl commands ask: an active, enabled, not failed unit.
FAKE_SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >> "$LLMFLEET_FAKE_LOG"
for a in "$@"; do case "$a" in
  show) unit=""; for u in "$@"; do unit="$u"; done
        printf 'Id=%s\\nNames=%s\\nLoadState=loaded\\nActiveState=active\\nSubState=running\\nUnitFileState=enabled\\n' "$unit" "$unit"; exit 0;;
  is-enabled) echo enabled; exit 0;;
  is-active) echo active; exit 0;;
  is-failed) exit 1;;
esac; done
exit 0
"""

PORT = 18741


def _write_exe(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    root = tmp_path_factory.mktemp("restart")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (root / "units").mkdir()  # /etc/systemd/system exists on every host
    _write_exe(bin_dir / "docker", FAKE_DOCKER)
    _write_exe(bin_dir / "systemctl", FAKE_SYSTEMCTL)
    (root / "play.yml").write_text("- hosts: node1\n  gather_facts: false\n  roles:\n    - llmfleet.serving.serve\n")
    state = {"root": root, "bin": bin_dir}
    proc, out = _run(state, {}, check=False, start=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (unit,) = list((root / "units").glob("*.service"))
    state["unit"] = unit
    state["unit_text"] = unit.read_text()
    state["key"] = re.search(r"^# llmfleet restart key: ([0-9a-f]{64})$", state["unit_text"], re.M).group(1)
    return state


def _run(state, role_vars, check=True, start=True, running_key=None):
    root = state["root"]
    inspect = root / "inspect.json"
    if running_key is None:
        inspect.write_text("")
    else:
        inspect.write_text(
            json.dumps(
                [
                    {
                        "State": {"Running": True},
                        "HostConfig": {"PortBindings": {"8000/tcp": [{"HostIp": "", "HostPort": str(PORT)}]}},
                        "Config": {"Labels": {"llmfleet.restart-key": running_key}},
                    }
                ]
            )
        )
    vars_ = dict(
        {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "serve_secrets_dir": str(root / "secrets"),
            "serve_fact_dir": str(root / "facts"),
            "serve_start": start,
            "serve_wait": False,
            "serve_pull_images": False,
            "serve_api_key": KEY,
            "serve_port": PORT,
        },
        **role_vars,
    )
    extra = {
        # Role vars: only extra vars override them. The unit directories and the container CLI of this machine.
        "__serve_unit_dirs": {"docker": str(root / "units"), "podman": str(root / "quadlets")},
        "__serve_cli_paths": {"docker": str(state["bin"] / "docker"), "podman": str(state["bin"] / "podman")},
    }
    args = ["-e", json.dumps(extra)] + (["--check"] if check else [])
    return run_playbook(
        root / "play.yml",
        {"all": {"hosts": {"node1": vars_}}},
        *args,
        workdir=root,
        env={
            "LLMFLEET_TESTBED_GPUS": str(GPUS),
            "LLMFLEET_PYTHON3": sys.executable,
            "LLMFLEET_FAKE_INSPECT": str(inspect),
            "LLMFLEET_FAKE_LOG": str(root / "calls.log"),
        },
        path=[state["bin"], DOUBLE_DIR],
        timeout=300,
    )


def _decide(state, role_vars=None, running_key="same"):
    proc, out = _run(state, role_vars or {}, running_key=state["key"] if running_key == "same" else running_key)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    restart = task_result(out, "Restart the service")
    why = task_result(out, "Say why the server")["msg"]
    warn = task_result(out, "Warn that the changed unit")
    unit = task_result(out, "Write the systemd service")
    return {
        "restart": restart.get("changed", False) and not restart.get("skipped", False),
        "skipped": restart.get("skipped", False),
        "why": why,
        "warning": None if warn.get("skipped") else warn["msg"],
        "unit_changed": unit.get("changed", False),
        "started": task_result(out, "Make sure the service runs"),
        "output": json.dumps(out),
        "restart_result": restart,
    }


def test_the_same_plan_rerun_does_not_restart(host):
    got = _decide(host)
    assert not got["unit_changed"]
    assert got["skipped"] and not got["restart"]
    assert "keeps running" in got["why"] and got["warning"] is None
    assert not got["started"].get("skipped") and not got["started"].get("changed")


def test_a_tensor_parallel_change_restarts_and_names_it(host):
    got = _decide(host, {"serve_tensor_parallel_size": 8})
    assert got["unit_changed"] and got["restart"], (got["why"], got["restart_result"])
    assert re.search(r"tensor_parallel_size: 4 -> 8", got["why"]), got["why"]


def test_a_secret_change_restarts_without_showing_the_secret(host):
    new_key = "sk-TESTONLY-rotated-41c9"
    got = _decide(host, {"serve_api_key": new_key})
    assert got["restart"]
    assert "secret files changed" in got["why"]
    assert new_key not in got["output"] and KEY not in got["why"]


def test_a_running_container_without_the_label_is_restarted(host):
    got = _decide(host, running_key="")
    assert got["restart"] and "no llmfleet.restart-key label" in got["why"]


def test_nothing_running_is_started_not_restarted(host):
    got = _decide(host, running_key=None)
    assert not got["restart"] and got["skipped"]
    assert "started" in got["why"] and got["started"].get("skipped") is not True


def test_a_unit_edited_by_hand_with_the_same_key_is_not_restarted_and_warns(host):
    unit = host["unit"]
    unit.write_text(host["unit_text"] + "# edited by hand\n")
    try:
        got = _decide(host)
    finally:
        unit.write_text(host["unit_text"])
    # The role puts its unit back (template changed) but leaves the server serving.
    assert got["unit_changed"]
    assert got["skipped"] and not got["restart"]
    assert got["warning"] and "next restart" in got["warning"] and str(unit) in got["warning"]
    assert os.path.basename(str(unit)) in got["warning"]


def test_the_units_key_is_the_old_jinja_key_of_what_the_role_wrote(host):
    """The upgrade check on the role's own output: the key in the unit is what the old Jinja gives for the plan hash
    and the secret files the role wrote (an SGLang/vLLM env file with a quoted key), so no server restarts on upgrade."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    root = host["root"]
    plan = json.loads((root / "facts" / "llmfleet_plan.fact").read_text())
    (secret_dir,) = list((root / "secrets").iterdir())
    env = (secret_dir / "secrets.env").read_text()
    assert KEY in env
    old = Templar(
        loader=DataLoader(),
        variables={"__serve_plan": plan, "__serve_hf_token_content": "", "__serve_env_content": env},
    ).template(
        trust_as_template(
            "{{ (__serve_plan.hash ~ ':' ~ ([__serve_hf_token_content, __serve_env_content] | to_json"
            " | hash('sha256'))) | hash('sha256') }}"
        )
    )
    assert host["key"] == old
