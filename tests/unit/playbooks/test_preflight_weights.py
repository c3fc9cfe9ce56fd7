"""playbooks/preflight.yml passes each host's verified builds (the weights role's llmfleet_weights fact, or the
local fact llmfleet_weights.fact it leaves) to fleet_plan, which runs those instances with HF_HUB_OFFLINE=1.

Run by ansible-playbook on this machine (connection local, check mode) for three inventory hosts with the GPU
test double (extensions/testbed/bin/nvidia-smi, an 8 x B200 description) first on PATH. Only the plan is
asserted; the preflight checks after it (docker, ports) are other tests' subject and may fail here.
"""

import json
import sys

import pytest
from helpers import gpu_fact_samples as samples
from helpers.inventory import fleet_inventory, local_host
from helpers.paths import ROOT
from helpers.playbook import find_task, run_playbook
from helpers.preflight import free_ports, preflight_doubles

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

pytestmark = pytest.mark.slow

DOUBLE_DIR = ROOT / "extensions" / "testbed" / "bin"
GPUS = ROOT / "extensions" / "testbed" / "gpus" / "b200x8.json"
CACHE = "/root/.cache/huggingface"


def test_preflight_gives_hf_hub_offline_only_to_builds_verified_in_the_plans_cache(tmp_path):
    model = plan_fleet({"x": {"gpus": samples.b200x8(), "address": "10.0.0.1"}})["hosts"]["x"]["instances"][0][
        "model_id"
    ]
    build = {"model_id": model, "revision": "main", "commit": "c" * 40, "cache_dir": CACHE, "verified": True}
    facts = {}
    for name, builds in (
        ("local-ok", [build]),  # the fact file the weights role left
        ("other-cache", [dict(build, cache_dir="/srv/hf")]),  # verified, but not where the engine mounts its cache
        ("no-fact", None),  # never ran the weights role
    ):
        facts[name] = tmp_path / name
        facts[name].mkdir()
        if builds is not None:
            (facts[name] / "llmfleet_weights.fact").write_text(json.dumps({"builds": builds}))
    hosts = {
        name: {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_host": "127.0.0.%d" % (i + 1),
            "serve_fact_dir": str(path),
        }
        for i, (name, path) in enumerate(facts.items())
    }
    # This play's weights role result (the fact set_fact leaves) is used as it is, a failed check not counted.
    hosts["in-play"] = dict(
        hosts["no-fact"],
        ansible_host="127.0.0.9",
        llmfleet_weights={"builds": [build]},
    )
    hosts["in-play-failed"] = dict(
        hosts["no-fact"],
        ansible_host="127.0.0.10",
        llmfleet_weights={"builds": [dict(build, verified=False)]},
    )
    proc, out = run_playbook(
        "playbooks/preflight.yml",
        fleet_inventory(hosts),
        "--check",
        workdir=tmp_path,
        env={"LLMFLEET_TESTBED_GPUS": str(GPUS), "LLMFLEET_PYTHON3": sys.executable},
        path=[DOUBLE_DIR],
        timeout=240,
    )
    planned = find_task(out, "Plan the fleet")["hosts"]
    fleet = next(iter(planned.values()))["fleet"]
    assert fleet, proc.stdout[-3000:] + proc.stderr[-2000:]

    def offline(name):
        return {i["env"].get("HF_HUB_OFFLINE") for i in fleet["hosts"][name]["instances"]}

    assert offline("local-ok") == {"1"}
    assert offline("in-play") == {"1"}
    assert offline("other-cache") == {None}
    assert offline("no-fact") == {None}
    assert offline("in-play-failed") == {None}
    # A host that never ran the weights role keeps the plan it had before (no restart on upgrade).
    assert [i["hash"] for i in fleet["hosts"]["no-fact"]["instances"]] == [
        i["hash"] for i in fleet["hosts"]["other-cache"]["instances"]
    ]
    assert any("other-cache" in r and "/srv/hf" in r for r in fleet["reasons"])


@pytest.mark.parametrize("given", [False, True], ids=["planned-here", "plan-given"])
def test_preflight_imported_again_after_the_weights_plans_again_unless_the_plan_was_given(tmp_path, given):
    # What rollout.yml does with rollout_weights: preflight, the weights role (its llmfleet_weights fact), preflight.
    bin_dir = preflight_doubles(tmp_path)
    hf = tmp_path / "hf"
    port = free_ports(1)
    choices = {"hf_cache_dir": str(hf), "port": port}
    fleet = plan_fleet({"node1": {"gpus": samples.b200x8(), "address": "127.0.0.1", "choices": choices}})
    model = fleet["hosts"]["node1"]["instances"][0]["model_id"]
    # The build is in the cache already (preflight's disk check then needs no room for it).
    snap = hf / "hub" / ("models--" + model.replace("/", "--")) / "snapshots" / ("c" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    build = {"model_id": model, "revision": "main", "commit": "c" * 40, "cache_dir": str(hf), "verified": True}
    play = tmp_path / "play.yml"
    play.write_text(
        "- import_playbook: %s\n"
        "- hosts: llmfleet_serving\n  gather_facts: false\n  tasks:\n"
        "    - name: What the weights role leaves\n      ansible.builtin.set_fact:\n"
        "        llmfleet_weights: {builds: [%s]}\n"
        "- import_playbook: %s\n"
        % (ROOT / "playbooks/preflight.yml", json.dumps(build), ROOT / "playbooks/preflight.yml")
    )
    host = local_host(
        ansible_host="127.0.0.1",
        serve_fact_dir=str(tmp_path / "facts"),
        serve_hf_cache_dir=str(hf),
        serve_port=port,
        preflight_disk_headroom_gb=0,
    )
    extra = []
    if given:
        (tmp_path / "fleet.json").write_text(json.dumps({"llmfleet_fleet": fleet}))
        extra = ["-e", "@" + str(tmp_path / "fleet.json")]
    proc, out = run_playbook(
        play,
        fleet_inventory({"node1": host}),
        *extra,
        workdir=tmp_path,
        env={"LLMFLEET_TESTBED_GPUS": str(GPUS), "LLMFLEET_PYTHON3": sys.executable},
        path=[bin_dir, DOUBLE_DIR],
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    first = find_task(out, "Give every host the fleet plan", play=0)["hosts"]["node1"]["ansible_facts"]
    second = find_task(out, "Give every host the fleet plan", play=2)["hosts"]["node1"]["ansible_facts"]
    env_before = first["llmfleet_fleet"]["hosts"]["node1"]["instances"][0]["env"]
    env_after = second["llmfleet_fleet"]["hosts"]["node1"]["instances"][0]["env"]
    assert "HF_HUB_OFFLINE" not in env_before
    if given:
        assert second["llmfleet_fleet"] == fleet
    else:
        assert env_after == dict(env_before, HF_HUB_OFFLINE="1")
