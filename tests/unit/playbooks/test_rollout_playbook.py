"""playbooks/rollout.yml refuses bad settings before any host is read or changed: no router, a
rollout_min_healthy, rollout_drain_timeout or rollout_batch that is not what it must be. Its per-host drain check
(an engine drain longer than the plan's stop timeout) runs as the playbook has it, on this machine."""

import pytest
import yaml
from helpers import gpu_fact_samples as samples
from helpers.inventory import ROLLOUT_INVENTORY, ROLLOUT_SERVING, fleet_inventory, local_host, refused_on_controller
from helpers.paths import ROOT
from helpers.playbook import find_task, run_playbook

from ansible_collections.llmfleet.serving.plugins.filter.rollout import rollout_changes
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

pytestmark = pytest.mark.slow


def refused(tmp_path, inventory, *extra):
    return refused_on_controller("playbooks/rollout.yml", tmp_path, inventory, *extra)


def test_an_empty_router_group_is_refused(tmp_path):
    inventory = fleet_inventory(ROLLOUT_SERVING)
    msg = refused(tmp_path, inventory)
    assert "llmfleet_router (now: empty" in msg and "playbooks/router.yml" in msg


@pytest.mark.parametrize(
    "extra, named",
    [
        ("rollout_min_healthy=two", "rollout_min_healthy a whole number 0 or more (got two)"),
        ("rollout_drain_timeout=0", "rollout_drain_timeout seconds above 0 (got 0"),
        ("rollout_batch=0", "rollout_batch a host count (1, 2, ...) or a percentage such as 25% (got 0)"),
        ("rollout_batch=150%", "(got 150%)"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(tmp_path, extra, named):
    msg = refused(tmp_path, ROLLOUT_INVENTORY, "-e", extra)
    assert named in msg, msg


def test_default_settings_pass_the_controller_checks(tmp_path):
    # No rollout_* variable given: every check of the controller's first play passes (its messages are
    # templated even when the check passes, so an undefined variable there fails every plain rollout).
    proc, out = run_playbook("playbooks/rollout.yml", ROLLOUT_INVENTORY, workdir=tmp_path)
    first = out["plays"][0]
    assert first["play"]["name"] == "Check the rollout's settings and the router group"
    results = [r for t in first["tasks"] for r in t["hosts"].values()]
    assert results and not [r for r in results if r.get("failed")], results


def _rollout_task(name):
    """The task of playbooks/rollout.yml called ``name`` (in a block or not), as the playbook has it."""

    def walk(tasks):
        for task in tasks or []:
            if task.get("name") == name:
                return task
            found = walk(task.get("block"))
            if found:
                return found
        return None

    for play in yaml.safe_load((ROOT / "playbooks/rollout.yml").read_text()):
        found = walk(play.get("tasks"))
        if found:
            return found
    raise AssertionError("no task %r in playbooks/rollout.yml" % name)


@pytest.mark.parametrize(
    "stop_timeout_s, refused",
    [pytest.param(60, True, id="plan-stops-after-60s"), pytest.param(120, False, id="plan-stops-after-120s")],
)
def test_the_drain_check_reads_each_instances_stop_timeout_from_its_plan(tmp_path, stop_timeout_s, refused):
    # The rollout's own task, on this machine, with the changes rollout_changes gives for one vLLM instance that
    # drains for 90 s: refused when its plan stops the container after 60 s, passed when after 120 s.
    fleet = plan_fleet(
        {
            "h1": {
                "gpus": samples.b200x8(),
                "address": "10.0.0.1",
                "choices": {"engine": "vllm", "extra_args": ["--shutdown-timeout", "90"]},
            }
        }
    )
    inst = dict(fleet["hosts"]["h1"]["instances"][0], stop_timeout_s=stop_timeout_s)
    changes = rollout_changes([inst], "h1", {inst["name"]: "k-new"}, {}, {})
    play = [
        {
            "hosts": "llmfleet_serving",
            "gather_facts": False,
            "tasks": [
                {"name": "The rollout's decision", "ansible.builtin.set_fact": {"__rollout_changes": changes}},
                _rollout_task("Check the engines' graceful drain fits in the unit's stop timeout"),
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    proc, out = run_playbook(tmp_path / "play.yml", fleet_inventory({"h1": local_host()}), workdir=tmp_path)
    result = find_task(out, "Check the engines' graceful drain")["hosts"]["h1"]
    assert bool(result.get("failed")) is refused, result
    assert proc.returncode == (2 if refused else 0), proc.stdout[-2000:] + proc.stderr[-2000:]
    if refused:
        assert result["msg"] == (
            "h1: %s runs vLLM with --shutdown-timeout 90 s, but the serve role's unit stops the container after 60 s "
            "(the plan's stop_timeout_s: docker stop -t, podman --stop-timeout): running requests would be killed. "
            "Give serve_extra_args a --shutdown-timeout below the stop timeout. Nothing was drained or restarted."
            % inst["name"]
        )


def test_each_batch_pulls_its_images_before_it_drains_on_the_hosts_it_restarts():
    # Issue 12: a real engine image is tens of GB; pulled after the drain (by the serve role), the host's servers
    # would be out of the router for the whole download. The batch play pulls first, on exactly the hosts its
    # drain-and-restart block runs on (the molecule scenario `rollout`, verify_prepull.yml, times it for real).
    plays = yaml.safe_load((ROOT / "playbooks" / "rollout.yml").read_text())
    batch = next(p for p in plays if p.get("name") == "Roll out the plan, batch by batch")
    assert batch["max_fail_percentage"] == 0  # one failed pull stops the batch before any host drains
    names = [t["name"] for t in batch["tasks"]]
    pull = names.index("Pull the new images on every host of the batch before its drain")
    apply = names.index("Drain, restart, verify and re-enable the changed instances")
    assert pull < names.index("Refuse to drain when fewer than rollout_min_healthy servers would stay in service")
    assert pull < apply
    task = batch["tasks"][pull]
    assert task["ansible.builtin.include_role"] == {"name": "llmfleet.serving.serve", "tasks_from": "images"}
    assert batch["tasks"][apply]["when"] in task["when"], (task["when"], batch["tasks"][apply]["when"])
    # The serve role's images.yml is what pulls (inspect first, the missing ones only, the failure message).
    images = yaml.safe_load((ROOT / "roles" / "serve" / "tasks" / "images.yml").read_text())
    assert [t["name"] for t in images][:2] == [
        "Look for the planned images on {{ inventory_hostname }}",
        "Pull the images the host lacks",
    ]
