"""playbooks/rollout.yml refuses bad settings before any host is read or changed: no router, a
rollout_min_healthy, rollout_drain_timeout or rollout_batch that is not what it must be."""

import pytest
from helpers.inventory import ROLLOUT_INVENTORY, ROLLOUT_SERVING, fleet_inventory, refused_on_controller
from helpers.playbook import run_playbook

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
