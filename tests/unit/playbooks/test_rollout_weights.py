"""rollout_weights: playbooks/rollout.yml fetches the weights (playbooks/weights.yml) before any batch restarts
a server, then plans again; a value that is not a boolean is refused before any host is read."""

import os
import subprocess
import sys

import pytest
from helpers.inventory import ROLLOUT_INVENTORY, refused_on_controller
from helpers.paths import ROOT

pytestmark = pytest.mark.slow


def test_a_rollout_weights_that_is_not_a_boolean_is_refused_before_any_host_is_read(tmp_path):
    # Fails on the controller only (no host contacted): refused_on_controller asserts it.
    msg = refused_on_controller("playbooks/rollout.yml", tmp_path, ROLLOUT_INVENTORY, "-e", "rollout_weights=maybe")
    assert 'rollout_weights is "maybe"' in msg and "true" in msg, msg


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
