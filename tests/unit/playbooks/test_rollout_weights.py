"""rollout_weights: playbooks/rollout.yml fetches the weights (playbooks/weights.yml) before any batch restarts
a server, then plans again; a value that is not a boolean is refused before any host is read."""

import json
import os
import subprocess
import sys
import tempfile

import pytest
from helpers.inventory import ROLLOUT_INVENTORY, refused_on_controller
from helpers.paths import ROOT

pytestmark = pytest.mark.slow


def test_a_rollout_weights_that_is_not_a_boolean_is_refused_before_any_host_is_read(tmp_path):
    # Fails on the controller only (no host contacted): refused_on_controller asserts it.
    msg = refused_on_controller("playbooks/rollout.yml", tmp_path, ROLLOUT_INVENTORY, "-e", "rollout_weights=maybe")
    assert 'rollout_weights is "maybe"' in msg and "true" in msg, msg


def list_rollout(option, inventory, *extra):
    """The stdout of ``ansible-playbook OPTION -i INVENTORY [EXTRA] playbooks/rollout.yml`` (--list-tasks, --list-hosts)."""
    env = dict(
        os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")
    )
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), option, "-i", inventory]
        + list(extra)
        + [str(ROOT / "playbooks/rollout.yml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def play_name(line):
    """The play's name in a --list-tasks / --list-hosts line ("  play #3 (hosts): NAME\tTAGS: []")."""
    return line.split("play #", 1)[1].split(": ", 1)[1].split("\t")[0].strip()


def plays(*extra):
    return [
        play_name(line) for line in list_rollout("--list-tasks", "localhost,", *extra).splitlines() if "play #" in line
    ]


def test_the_weights_play_runs_after_the_plan_and_before_the_batches():
    names = plays("-e", "rollout_weights=true")
    weights = names.index("Fetch the weights once per fleet")
    batches = names.index("Roll out the plan, batch by batch")
    preflights = [i for i, n in enumerate(names) if n == "Preflight the fleet"]
    # Plan first (the weights come from the plan), then the weights, then the plan again with the verified
    # builds (HF_HUB_OFFLINE=1), then the batches that restart servers.
    assert len(preflights) == 2 and preflights[0] < weights < preflights[1] < batches, names


def play_hosts(*extra):
    """Each play's name and hosts (ansible-playbook --list-hosts) for a one-host serving group."""
    inventory = {
        "all": {"children": {"llmfleet_serving": {"hosts": {"gpu-a": {}}}, "llmfleet_router": {"hosts": {"rt": {}}}}}
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(inventory, handle)
        handle.flush()
        stdout = list_rollout("--list-hosts", handle.name, *extra)
    out, name = [], None
    for line in stdout.splitlines():
        if "play #" in line:
            name = play_name(line)
            out.append([name, []])
        elif name and line.startswith("      ") and line.strip():
            out[-1][1].append(line.strip())
    return out


@pytest.mark.parametrize("weights, rollback", [(False, False), (True, False), (False, True)])
def test_the_plays_a_rollout_does_not_need_match_no_host(weights, rollback):
    # A play skipped as a whole costs nothing per host (a `when` on an imported play is evaluated for every task
    # and host): the weights play, the second preflight and the rollback's read run only when asked for.
    hosts = play_hosts("-e", "rollout_weights=%s" % weights, "-e", "rollout_rollback=%s" % rollback)
    by_play = {}
    for name, members in hosts:
        by_play.setdefault(name, []).append(members)
    assert by_play["Read the plans to roll back to"] == [["gpu-a"] if rollback else []]
    assert by_play["Fetch the weights once per fleet"] == [["gpu-a"] if weights else []]
    assert by_play["Preflight the fleet"] == [["gpu-a"], ["gpu-a"] if weights else []]
    assert by_play["Decide, before any batch, what the rollout changes on each host"] == [["gpu-a"]]
    # The batches run on the hosts the decision puts in llmfleet_rollout_batches at run time: listed, none yet.
    assert by_play["Roll out the plan, batch by batch"] == [[]]
