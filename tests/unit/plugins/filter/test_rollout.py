"""The rollout's decisions: only instances whose restart key changes are drained and restarted, and a batch
may drain only while rollout_min_healthy servers stay in service."""

import pytest
from ansible.errors import AnsibleFilterError
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.filter.rollout import rollout_changes, rollout_drain_check
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet


def _instances(**choices):
    """The two packed vLLM replicas of an 8 x B200 host h1 (llmfleet-deepseek and llmfleet-deepseek-1)."""
    choices = {"engine": "vllm", "tensor_parallel_size": 4, **choices}
    fleet = plan_fleet({"h1": {"gpus": samples.b200x8(), "address": "10.0.0.1", "choices": choices}})
    return fleet["hosts"]["h1"]["instances"]


def _names(instances):
    return [i["name"] for i in instances]


def _deployed(instances, key="k-old"):
    """What the host looks like after a deploy of ``instances``: labels and the llmfleet_plans fact."""
    return {n: key for n in _names(instances)}, {i["name"]: i for i in instances}


def test_nothing_changes_when_every_running_key_matches():
    new = _instances()
    running, plans = _deployed(new)
    out = rollout_changes(new, "h1", {n: "k-old" for n in _names(new)}, running, plans)
    assert [o["change"] for o in out] == [False, False]
    assert {o["reason"] for o in out} == {"unchanged"}
    # The router's names for them (HOST-INSTANCE), in plan order.
    assert [o["server"] for o in out] == ["h1-" + n for n in _names(new)]


def test_a_plan_change_names_what_changed_per_instance():
    old = _instances()
    new = _instances(extra_args=["--max-num-seqs", "64"])
    running, plans = _deployed(old)
    keys = {n: "k-new" for n in _names(new)}
    out = rollout_changes(new, "h1", keys, running, plans)
    assert all(o["change"] for o in out)
    assert all(o["reason"].startswith("plan changed (%s -> " % old[0]["hash"]) for o in out[:1])
    assert any("max-num-seqs" in c for c in out[0]["changes"]), out[0]["changes"]


def test_only_the_instance_whose_key_changed_is_restarted():
    new = _instances()
    running, plans = _deployed(new)
    first, second = _names(new)
    keys = {first: "k-old", second: "k-rotated"}
    out = rollout_changes(new, "h1", keys, running, plans)
    assert [o["change"] for o in out] == [False, True]
    # Same plan hash: it was the secrets (an API key rotation) that changed.
    assert out[1]["reason"].startswith("secrets changed")
    assert out[1]["changes"] == []


def test_a_stopped_or_new_instance_is_started_and_said_so():
    new = _instances()
    first, second = _names(new)
    keys = {n: "k" for n in _names(new)}
    out = rollout_changes(new, "h1", keys, {first: "k"}, {first: new[0], second: new[1]})
    assert out[1]["change"] and out[1]["reason"].startswith("stopped")
    out = rollout_changes(new, "h1", keys, {}, {})
    assert [o["reason"] for o in out] == ["new instance", "new instance"]


def test_an_upgrade_from_the_old_replica_0_name_drains_and_starts_only_replica_0():
    # Earlier versions ran replica 0 as llmfleet-deepseek-0 (router server h1-llmfleet-deepseek-0). The new plan's
    # llmfleet-deepseek is not running: the rollout drains its server (router.yml renamed it first; same port,
    # still answered by the old container) and the serve role swaps the containers. Replica 1 is left alone.
    new = _instances()
    running = {"llmfleet-deepseek-0": "k-old", "llmfleet-deepseek-1": "k-old"}
    old_plans = {"llmfleet-deepseek-0": dict(new[0], name="llmfleet-deepseek-0"), "llmfleet-deepseek-1": new[1]}
    out = rollout_changes(new, "h1", {n: "k-old" for n in _names(new)}, running, old_plans)
    assert [(o["instance"], o["server"], o["change"], o["drain"], o["reason"]) for o in out] == [
        ("llmfleet-deepseek", "h1-llmfleet-deepseek", True, True, "new instance"),
        ("llmfleet-deepseek-1", "h1-llmfleet-deepseek-1", False, False, "unchanged"),
    ]


def test_an_unchanged_instance_that_is_out_of_sync_is_drained_and_repaired():
    # Same restart key, but serve_state found its unit file edited by hand: the serve role rewrites the unit and
    # restarts the server, so the rollout must drain it first. Its sibling without problems is left alone.
    new = _instances()
    running, plans = _deployed(new)
    first, second = _names(new)
    keys = {n: "k-old" for n in _names(new)}
    problems = {first: ["unit file /etc/systemd/system/%s.service differs from what the role writes" % first]}
    out = rollout_changes(new, "h1", keys, running, plans, problems)
    assert [o["change"] for o in out] == [True, False]
    assert out[0]["reason"] == "out of sync: " + problems[first][0]
    # An empty list of problems is in sync.
    out = rollout_changes(new, "h1", keys, running, plans, {first: [], second: []})
    assert [o["change"] for o in out] == [False, False]


def test_problems_that_are_not_a_mapping_are_refused():
    new = _instances()
    running, plans = _deployed(new)
    with pytest.raises(AnsibleFilterError, match="problems must be a mapping"):
        rollout_changes(new, "h1", {n: "k-old" for n in _names(new)}, running, plans, ["unit differs"])


def test_a_missing_restart_key_is_refused_naming_the_instance():
    new = _instances()
    with pytest.raises(AnsibleFilterError, match="no new restart key for instance llmfleet-deepseek-1 of host h1"):
        rollout_changes(new, "h1", {new[0]["name"]: "k"}, {}, {})


def test_instances_that_are_not_a_list_are_refused():
    with pytest.raises(AnsibleFilterError, match=r"llmfleet_fleet.hosts\[h1\].instances"):
        rollout_changes({"a": 1}, "h1", {}, {}, {})


def _servers(states, routers=("r1",)):
    return [
        {"router": r, "server": name, "status": status, "admin_state": admin}
        for r in routers
        for name, (status, admin) in states.items()
    ]


FLEET = {"a-0": ("UP", "ready"), "a-1": ("UP", "ready"), "b-0": ("UP", "ready"), "c-0": ("UP", "ready")}


def test_a_batch_may_drain_while_enough_stay_in_service():
    out = rollout_drain_check(_servers(FLEET), ["a-0", "a-1"], 2)
    assert out["ok"] and out["left"] == ["b-0", "c-0"]


def test_a_batch_that_would_leave_too_few_is_refused_with_the_count():
    states = dict(FLEET, **{"c-0": ("DOWN 1/2", "ready")})
    out = rollout_drain_check(_servers(states), ["a-0", "a-1"], 2)
    assert not out["ok"]
    assert "3 of 4 server(s) in service" in out["msg"] and "leaves 1, rollout_min_healthy 2" in out["msg"]
    assert "rollout_batch" in out["msg"]


def test_drained_or_maintenance_servers_do_not_count_as_in_service():
    states = dict(FLEET, **{"b-0": ("DRAIN", "drain"), "c-0": ("MAINT", "maint")})
    assert not rollout_drain_check(_servers(states), ["a-0"], 2)["ok"]
    assert rollout_drain_check(_servers(states), ["a-0"], 1)["ok"]


def test_the_router_with_the_fewest_in_service_decides():
    servers = _servers(FLEET, routers=("r1",)) + _servers(dict(FLEET, **{"b-0": ("DOWN", "ready")}), ("r2",))
    out = rollout_drain_check(servers, ["a-0"], 3)
    assert not out["ok"] and out["router"] == "r2"


@pytest.mark.parametrize("bad", ["two", -1, "1.5", True])
def test_a_min_healthy_that_is_not_a_count_is_refused_naming_it(bad):
    with pytest.raises(AnsibleFilterError, match="rollout_min_healthy is .*give a whole number, 0 or more"):
        rollout_drain_check(_servers(FLEET), ["a-0"], bad)


def test_a_min_healthy_above_the_fleet_is_refused():
    with pytest.raises(AnsibleFilterError, match="rollout_min_healthy is 5 but the router has 4 server"):
        rollout_drain_check(_servers(FLEET), [], 5)


def test_a_server_the_router_lacks_is_refused():
    with pytest.raises(AnsibleFilterError, match="router r1 has no server z-0.*playbooks/router.yml"):
        rollout_drain_check(_servers(FLEET), ["z-0"], 0)


def test_haproxy_server_loop_results_are_read_as_they_come():
    results = [
        {"item": ["r1", name], "server": {"server": name, "status": status, "admin_state": admin}, "changed": False}
        for name, (status, admin) in dict(FLEET, **{"a-1": ("DOWN", "ready")}).items()
    ]
    out = rollout_drain_check(results, ["a-0"], 2)
    assert out["ok"] and out["router"] == "r1" and out["left"] == ["b-0", "c-0"]


def test_the_engine_drain_time_is_read_from_the_plan():
    (with_flag, _second) = _instances(extra_args=["--shutdown-timeout", "30"])
    (plain, _second) = _instances()
    out = rollout_changes([with_flag], "h1", {with_flag["name"]: "k"}, {}, {})
    assert out[0]["shutdown_timeout"] == 30.0 and out[0]["engine"] == "vllm"
    # vLLM's default 0: SIGTERM aborts running requests, the router drain is all that protects them.
    assert rollout_changes([plain], "h1", {plain["name"]: "k"}, {}, {})[0]["shutdown_timeout"] == 0.0


@pytest.mark.parametrize(
    "shutdown, stop_timeout_s, too_long",
    [
        pytest.param("30", 60, False, id="30s-drain-60s-stop"),
        pytest.param("60", 60, True, id="60s-drain-60s-stop"),
        pytest.param("90", 120, False, id="90s-drain-120s-stop"),
        pytest.param("90", None, True, id="90s-drain-plan-without-stop-timeout"),
    ],
)
def test_the_engine_drain_is_compared_with_the_plans_stop_timeout(shutdown, stop_timeout_s, too_long):
    (inst, _second) = _instances(extra_args=["--shutdown-timeout", shutdown])
    inst = {k: v for k, v in inst.items() if k != "stop_timeout_s"}
    if stop_timeout_s is not None:
        inst["stop_timeout_s"] = stop_timeout_s
    (out,) = rollout_changes([inst], "h1", {inst["name"]: "k"}, {}, {})
    # A plan recorded before stop_timeout_s existed is stopped after 60 s, as its unit says.
    assert out["stop_timeout"] == (stop_timeout_s or 60)
    assert out["drain_too_long"] is too_long


def test_sglang_has_no_drain_limit_to_compare():
    fleet = plan_fleet({"h1": {"gpus": samples.h100x8(), "address": "10.0.0.1"}})
    (inst,) = fleet["hosts"]["h1"]["instances"]
    (out,) = rollout_changes([inst], "h1", {inst["name"]: "k"}, {}, {})
    assert out["shutdown_timeout"] is None and out["drain_too_long"] is False


@pytest.mark.parametrize("value", ["60", 60.5, True, [60]])
def test_a_stop_timeout_that_is_not_whole_seconds_is_refused_naming_the_instance(value):
    (inst, _second) = _instances()
    with pytest.raises(AnsibleFilterError, match="stop_timeout_s of instance llmfleet-deepseek of host h1 is"):
        rollout_changes([dict(inst, stop_timeout_s=value)], "h1", {inst["name"]: "k"}, {}, {})


def test_a_rollback_fleet_is_built_from_the_recorded_plans():
    from ansible_collections.llmfleet.serving.plugins.filter.rollout import rollout_previous_fleet

    old = _instances()
    recorded = {i["name"]: i for i in reversed(old)}
    fleet = rollout_previous_fleet([["h1", "10.0.0.1", recorded]])
    assert [i["name"] for i in fleet["hosts"]["h1"]["instances"]] == _names(old)  # plan order, not the fact's
    assert [(e["host"], e["address"], e["port"]) for e in fleet["endpoints"]] == [
        ("h1", "10.0.0.1", i["port"]) for i in old
    ]


def test_a_rollback_of_a_host_without_a_recorded_plan_is_refused_naming_it():
    from ansible_collections.llmfleet.serving.plugins.filter.rollout import rollout_previous_fleet

    with pytest.raises(AnsibleFilterError, match="no previous plan is recorded on h2"):
        rollout_previous_fleet([["h1", "a", {i["name"]: i for i in _instances()}], ["h2", "b", {}]])
