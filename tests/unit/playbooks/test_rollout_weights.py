"""rollout_weights: playbooks/rollout.yml fetches the weights (playbooks/weights.yml) before any batch restarts
a server, then plans again; a value that is not a boolean is refused before any host is read."""

import os
import subprocess
import sys

import pytest
from helpers.paths import ROOT
from helpers.playbook import run_playbook

pytestmark = pytest.mark.slow

INVENTORY = {
    "all": {
        "children": {
            "llmfleet_serving": {"hosts": {"gpu-a": {"ansible_connection": "ssh", "ansible_host": "192.0.2.1"}}},
            "llmfleet_router": {"hosts": {"rt": {"ansible_connection": "ssh", "ansible_host": "192.0.2.2"}}},
        }
    }
}


def test_a_rollout_weights_that_is_not_a_boolean_is_refused_before_any_host_is_read(tmp_path):
    proc, out = run_playbook("playbooks/rollout.yml", INVENTORY, "-e", "rollout_weights=maybe", workdir=tmp_path)
    assert proc.returncode != 0
    results = [(t["task"]["name"], h, r) for p in out["plays"] for t in p["tasks"] for h, r in t["hosts"].items()]
    failed = [r["msg"] for _n, _h, r in results if r.get("failed")]
    assert failed and 'rollout_weights is "maybe"' in failed[0] and "true" in failed[0], failed
    assert {h for _n, h, _r in results} == {"localhost"}


def plays(*extra):
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    )
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--list-tasks", "-i", "localhost,"]
        + list(extra)
        + [str(ROOT / "playbooks/rollout.yml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [
        line.split("play #", 1)[1].split(": ", 1)[1].split("\t")[0].strip()
        for line in proc.stdout.splitlines()
        if "play #" in line
    ]


def test_the_weights_play_runs_after_the_plan_and_before_the_batches():
    names = plays("-e", "rollout_weights=true")
    weights = names.index("Fetch the weights once per fleet")
    batches = names.index("Roll out the plan, batch by batch")
    preflights = [i for i, n in enumerate(names) if n == "Preflight the fleet"]
    # Plan first (the weights come from the plan), then the weights, then the plan again with the verified
    # builds (HF_HUB_OFFLINE=1), then the batches that restart servers.
    assert len(preflights) == 2 and preflights[0] < weights < preflights[1] < batches, names
