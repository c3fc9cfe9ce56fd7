"""playbooks/rollout.yml refuses bad settings before any host is read or changed: no router, a
rollout_min_healthy, rollout_drain_timeout or rollout_batch that is not what it must be."""

import pytest
import yaml
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


def refused(tmp_path, inventory, *extra):
    proc, out = run_playbook("playbooks/rollout.yml", inventory, *extra, workdir=tmp_path)
    assert proc.returncode != 0
    results = [
        (t["task"]["name"], host, r) for play in out["plays"] for t in play["tasks"] for host, r in t["hosts"].items()
    ]
    failed = [(name, host, r.get("msg", "")) for name, host, r in results if r.get("failed")]
    assert failed, [n for n, _h, _r in results]
    # Only the controller's check ran: no serving host or router was contacted.
    assert {host for _n, host, _r in results} == {"localhost"}
    return failed[0][2]


def test_an_empty_router_group_is_refused(tmp_path):
    inventory = {"all": {"children": {"llmfleet_serving": INVENTORY["all"]["children"]["llmfleet_serving"]}}}
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
    msg = refused(tmp_path, INVENTORY, "-e", extra)
    assert named in msg, msg


def test_default_settings_pass_the_controller_checks(tmp_path):
    # No rollout_* variable given: every check of the controller's first play passes (its messages are
    # templated even when the check passes, so an undefined variable there fails every plain rollout).
    proc, out = run_playbook("playbooks/rollout.yml", INVENTORY, workdir=tmp_path)
    first = out["plays"][0]
    assert first["play"]["name"] == "Check the rollout's settings and the router group"
    results = [r for t in first["tasks"] for r in t["hosts"].values()]
    assert results and not [r for r in results if r.get("failed")], results


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
