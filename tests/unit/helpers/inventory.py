"""Inventories the playbook tests give run_playbook (helpers/playbook.py), built one way.

- ``local_host(**host_vars)``: a host that is this machine (connection local, this venv's Python, no become).
- ``fleet_inventory(serving=None, router=None)``: the collection's two groups (llmfleet_serving, llmfleet_router)
  with those hosts; a group given as None is left out of the inventory.
- ``ROLLOUT_INVENTORY``: one serving host and one router on documentation addresses (192.0.2.0/24, reachable
  nowhere) for the controller checks of playbooks/rollout.yml, which must refuse before any host is read.
- ``refused_on_controller(playbook, tmp_path, inventory, *extra)``: run ``playbook``, assert that it failed and that
  only localhost ran a task (no host was contacted); the first failure's message.
"""

import sys

from helpers.playbook import run_playbook


def local_host(**host_vars):
    return dict(
        {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False},
        **host_vars,
    )


def fleet_inventory(serving=None, router=None):
    children = {}
    if serving is not None:
        children["llmfleet_serving"] = {"hosts": serving}
    if router is not None:
        children["llmfleet_router"] = {"hosts": router}
    return {"all": {"children": children}}


ROLLOUT_SERVING = {"gpu-a": {"ansible_connection": "ssh", "ansible_host": "192.0.2.1"}}
ROLLOUT_ROUTER = {"rt": {"ansible_connection": "ssh", "ansible_host": "192.0.2.2"}}
ROLLOUT_INVENTORY = fleet_inventory(ROLLOUT_SERVING, ROLLOUT_ROUTER)


def refused_on_controller(playbook, tmp_path, inventory, *extra):
    proc, out = run_playbook(playbook, inventory, *extra, workdir=tmp_path)
    assert proc.returncode != 0
    results = [
        (t["task"]["name"], host, r) for play in out["plays"] for t in play["tasks"] for host, r in t["hosts"].items()
    ]
    failed = [(name, host, r.get("msg", "")) for name, host, r in results if r.get("failed")]
    assert failed, [n for n, _h, _r in results]
    # Only the controller's check ran: no serving host or router was contacted.
    assert {host for _n, host, _r in results} == {"localhost"}
    return failed[0][2]
