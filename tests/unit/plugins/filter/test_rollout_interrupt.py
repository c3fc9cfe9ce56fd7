"""A rollout interrupted (Ctrl-C) after a drain, then run again: it converges. An instance that already runs the
planned restart key but whose server is still drained is verified and put back in service; one still on the old
plan is drained and restarted as usual; a server an operator put in MAINT is left alone. A host with such a
drained server is not "settled" (a fast no-change path must not skip it)."""

import pytest
from ansible.errors import AnsibleFilterError
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.filter.rollout import (
    rollout_changes,
    rollout_router_states,
    rollout_settled,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet


def _instances():
    fleet = plan_fleet(
        {
            "h1": {
                "gpus": samples.b200x8(),
                "address": "10.0.0.1",
                "choices": {"engine": "vllm", "tensor_parallel_size": 4},
            }
        }
    )
    return fleet["hosts"]["h1"]["instances"]


def _result(router, server, admin_state, status="UP"):
    """One item of a haproxy_server loop over [router, server] pairs."""
    return {"item": [router, server], "server": {"server": server, "admin_state": admin_state, "status": status}}


def test_router_states_keeps_the_worst_state_across_routers():
    results = [
        _result("r1", "h1-a", "ready"),
        _result("r2", "h1-a", "drain", "DRAIN"),
        _result("r1", "h1-b", "maint", "MAINT"),
        _result("r2", "h1-b", "drain"),
        {"item": ["r1", "h1-c"], "skipped": True},
    ]
    assert rollout_router_states({"results": results}) == {"h1-a": "drain", "h1-b": "maint"}
    assert rollout_router_states(None) == {}


def test_router_states_refuses_a_non_list():
    with pytest.raises(AnsibleFilterError, match="list of haproxy_server results"):
        rollout_router_states("h1-a drain")


def test_drained_server_already_on_the_new_key_is_put_back_without_a_restart():
    new = _instances()
    first, second = [i["name"] for i in new]
    keys = {first: "k-new", second: "k-new"}
    # Interrupted after the first instance restarted onto k-new, before the second did; both servers drained.
    running = {first: "k-new", second: "k-old"}
    router = {"h1-" + first: "drain", "h1-" + second: "drain"}
    out = rollout_changes(new, "h1", keys, running, {i["name"]: i for i in new}, router=router)
    assert [(o["change"], o["drain"], o["enable"]) for o in out] == [(False, False, True), (True, True, True)]
    assert "DRAINED in the router" in out[0]["reason"] and "back in service" in out[0]["reason"]
    assert out[0]["router_state"] == "drain"
    assert not rollout_settled(out)


def test_a_host_with_only_a_drained_server_is_not_settled():
    new = _instances()
    keys = {i["name"]: "k" for i in new}
    out = rollout_changes(new, "h1", keys, dict(keys), {}, router={"h1-" + new[1]["name"]: "drain"})
    assert [o["change"] for o in out] == [False, False]
    assert [o["enable"] for o in out] == [False, True]
    assert rollout_settled(out) is False
    # The same host with every server ready: nothing to do.
    assert rollout_settled(rollout_changes(new, "h1", keys, dict(keys), {}, router={})) is True


def test_a_server_in_maint_is_left_alone_changed_or_not():
    new = _instances()
    first, second = [i["name"] for i in new]
    keys = {first: "k-new", second: "k-new"}
    running = {first: "k-new", second: "k-old"}
    router = {"h1-" + first: "maint", "h1-" + second: "maint"}
    out = rollout_changes(new, "h1", keys, running, {}, router=router)
    # Neither drained nor re-enabled; the changed one is still restarted (it stays in MAINT).
    assert [(o["change"], o["drain"], o["enable"]) for o in out] == [(False, False, False), (True, False, False)]
    assert all("left in MAINT" in o["reason"] for o in out)
    assert rollout_settled(out[:1]) is True


def test_changed_instance_in_service_is_drained_and_re_enabled():
    new = _instances()
    keys = {i["name"]: "k-new" for i in new}
    out = rollout_changes(new, "h1", keys, {i["name"]: "k-old" for i in new}, {})
    assert all(o["drain"] and o["enable"] and o["router_state"] == "ready" for o in out)


def test_unknown_router_state_names_the_server_and_what_works():
    new = _instances()
    keys = {i["name"]: "k" for i in new}
    with pytest.raises(AnsibleFilterError, match=r"h1-%s is 'up'.*ready, drain or maint" % new[0]["name"]):
        rollout_changes(new, "h1", keys, keys, {}, router={"h1-" + new[0]["name"]: "up"})


def test_settled_refuses_a_non_list():
    with pytest.raises(AnsibleFilterError, match="rollout_changes list"):
        rollout_settled({"change": False})
