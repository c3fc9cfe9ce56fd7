"""weights_fanout: a value that cannot bound the copies one host serves at once is refused by playbooks/weights.yml
with the variable, the value and what would work, before any host is contacted (the hosts here are unreachable
documentation addresses: a task that tried to reach one would fail as unreachable, not with the message)."""

import pytest
from helpers.playbook import run_playbook

pytestmark = pytest.mark.slow

BUILD = {"model_id": "org/model", "revision": "main", "cache_dir": "/var/lib/hf", "image": "engine:1"}
INVENTORY = {
    "all": {
        "children": {
            "llmfleet_serving": {
                "hosts": {
                    "gpu-a": {"ansible_host": "192.0.2.1"},
                    "gpu-b": {"ansible_host": "192.0.2.2"},
                },
                "vars": {"ansible_connection": "ssh", "weights_builds": [BUILD]},
            }
        }
    }
}


def results(out):
    return [(t["task"]["name"], h, r) for p in out["plays"] for t in p["tasks"] for h, r in t["hosts"].items()]


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("0", 'weights_fanout is "0": it must be a whole number of at least 1'),
        ("-2", 'weights_fanout is "-2": it must be a whole number of at least 1'),
        ('{"weights_fanout": true}', "weights_fanout is true: it must be a whole number of at least 1"),
    ],
)
def test_a_fanout_below_one_is_refused_with_what_works_before_any_host_is_contacted(tmp_path, value, fragment):
    extra = value if value.startswith("{") else "weights_fanout=" + value
    proc, out = run_playbook("playbooks/weights.yml", INVENTORY, "-e", extra, workdir=tmp_path)
    assert proc.returncode != 0
    failed = [(n, r) for n, _h, r in results(out) if r.get("failed") or r.get("unreachable")]
    assert failed, proc.stdout[-2000:]
    name, result = failed[0]
    assert name.endswith("Check the fan-out"), failed
    assert fragment in result["msg"] and "e.g. 4" in result["msg"], result["msg"]
    assert not any(r.get("unreachable") for _n, _h, r in results(out))


def test_a_fanout_that_is_not_a_number_is_refused_by_the_role_arguments(tmp_path):
    proc, out = run_playbook("playbooks/weights.yml", INVENTORY, "-e", "weights_fanout=four", workdir=tmp_path)
    assert proc.returncode != 0
    failed = [r for _n, _h, r in results(out) if r.get("failed")]
    assert failed and "weights_fanout" in failed[0]["msg"] and "int" in failed[0]["msg"], failed
    assert not any(r.get("unreachable") for _n, _h, r in results(out))
