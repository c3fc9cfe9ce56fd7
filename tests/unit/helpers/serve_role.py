"""Run the serve role on this machine (connection local, check mode, -vvv) with the GPU test double
(extensions/testbed/bin/nvidia-smi) first on PATH: secrets and facts go under tmp_path, nothing is started."""

import sys

from helpers.paths import ROOT
from helpers.playbook import run_playbook

DOUBLE_DIR = ROOT / "extensions" / "testbed" / "bin"
GPUS = ROOT / "extensions" / "testbed" / "gpus" / "b200x8.json"
KEY = "sk-TESTONLY-inputs-6b1f0e9d2c"


def run_role(tmp_path, role_vars, state="present"):
    secrets = tmp_path / "secrets"
    facts = tmp_path / "facts"
    host = dict(
        {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "serve_secrets_dir": str(secrets),
            "serve_fact_dir": str(facts),
            "serve_start": False,
            "serve_api_key": KEY,
            "serve_state": state,
        },
        **role_vars,
    )
    play = tmp_path / "play.yml"
    play.write_text("- hosts: node1\n  gather_facts: false\n  roles:\n    - llmfleet.serving.serve\n")
    proc, out = run_playbook(
        play,
        {"all": {"hosts": {"node1": host}}},
        "--check",
        "-vvv",
        workdir=tmp_path,
        env={"LLMFLEET_TESTBED_GPUS": str(GPUS), "LLMFLEET_PYTHON3": sys.executable},
        path=[DOUBLE_DIR],
    )
    return proc, out, (secrets, facts)
