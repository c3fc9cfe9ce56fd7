"""playbooks/router.yml refuses, before any change, what would leave clients without a working router: an empty
router group, an unreachable router, no endpoints, an endpoint with a health path its engine lacks. Run by
ansible-playbook on this machine (the router role's changing tasks are never reached)."""

import pytest
from helpers.inventory import fleet_inventory, local_host
from helpers.playbook import run_playbook

pytestmark = pytest.mark.slow


def run(tmp_path, inventory, *extra):
    return run_playbook("playbooks/router.yml", inventory, *extra, workdir=tmp_path)


def tasks_run(out):
    return [
        (t["task"]["name"], host, r) for play in out["plays"] for t in play["tasks"] for host, r in t["hosts"].items()
    ]


def failure(out):
    failed = [(name, r.get("msg", "")) for name, _host, r in tasks_run(out) if r.get("failed")]
    assert failed, "nothing failed: %s" % [n for n, _h, _r in tasks_run(out)]
    return failed[0]


def local_router(**host_vars):
    return fleet_inventory(router={"rt": local_host(**host_vars)})


def endpoint(**kw):
    e = {
        "host": "gpu-a",
        "address": "10.0.0.1",
        "port": 8000,
        "instance": "llmfleet-0",
        "engine": "vllm",
        "served_model_name": "deepseek-v4-flash",
        "health_path": "/health",
        "models_path": "/v1/models",
    }
    e.update(kw)
    return e


def assert_nothing_changed(out):
    names = [n for n, _h, _r in tasks_run(out)]
    assert not [n for n in names if n.endswith("Install HAProxy from the distribution")]
    assert not [n for n, _h, r in tasks_run(out) if r.get("changed")]


def test_empty_router_group_is_refused(tmp_path):
    proc, out = run(tmp_path, {"all": {"children": {"llmfleet_serving": {"hosts": {"gpu-a": {}}}}}})
    assert proc.returncode != 0
    name, msg = failure(out)
    assert name == "Check that the inventory has a router"
    assert "llmfleet_router is empty or missing" in msg and "llmfleet_serving" in msg
    assert_nothing_changed(out)


def test_unreachable_router_is_refused_with_its_name(tmp_path):
    inventory = {
        "all": {
            "children": {
                "llmfleet_router": {
                    "hosts": {
                        "rt-down": {
                            "ansible_connection": "ssh",
                            "ansible_host": "127.0.0.1",
                            "ansible_port": 1,
                            "ansible_user": "nobody",
                            "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes",
                        }
                    }
                }
            }
        }
    }
    proc, out = run(tmp_path, inventory)
    assert proc.returncode != 0
    name, msg = failure(out)
    assert name == "Refuse to go on when a router is unreachable"
    assert "router rt-down" in msg and "is unreachable" in msg and "127.0.0.1" in msg
    assert_nothing_changed(out)


def test_no_endpoints_says_run_fleet_plan(tmp_path):
    proc, out = run(tmp_path, local_router())
    assert proc.returncode != 0
    name, msg = failure(out)
    assert name.endswith("Check the endpoints and name the servers")
    assert "router_endpoints is empty: run llmfleet.serving.fleet_plan first" in msg
    assert_nothing_changed(out)


def test_health_path_the_engine_lacks_is_refused(tmp_path):
    proc, out = run(tmp_path, local_router(router_endpoints=[endpoint(health_path="/v1/models")]))
    assert proc.returncode != 0
    _name, msg = failure(out)
    assert "router_endpoints[0].health_path is '/v1/models' but vllm serves /health and /ping" in msg
    assert_nothing_changed(out)


def test_same_ports_refused(tmp_path):
    proc, out = run(tmp_path, local_router(router_endpoints=[endpoint()], router_port=8404))
    assert proc.returncode != 0
    name, msg = failure(out)
    assert name.endswith("Check the router ports")
    assert "router_port (8404) and router_stats_port (8404) must differ" in msg
    assert_nothing_changed(out)


def test_fleet_fact_on_another_host_gives_the_endpoints(tmp_path):
    """The default router_endpoints: llmfleet_fleet from any host (the play that ran fleet_plan); a bad entry
    there is refused with its index, proving the fleet's list is what the role checks."""
    inventory = local_router()
    inventory["all"]["children"]["llmfleet_serving"] = {
        "hosts": {
            "gpu-a": {
                "llmfleet_fleet": {"endpoints": [endpoint(), endpoint(host="gpu-b", address="10.0.0.2", port=70000)]}
            }
        }
    }
    proc, out = run(tmp_path, inventory)
    assert proc.returncode != 0
    _name, msg = failure(out)
    assert "router_endpoints[1].port is 70000" in msg
