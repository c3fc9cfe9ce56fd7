"""fleet_instance_rows / fleet_totals: site.yml's summary for a fleet the real planner packed (8 x B200 with two
vLLM replicas, two 4 x H100 hosts as one SGLang cell, 8 x H200 with two SGLang replicas)."""

import pytest
from ansible.errors import AnsibleFilterError
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.filter.fleet_summary import fleet_instance_rows, fleet_totals
from ansible_collections.llmfleet.serving.plugins.filter.fleet_table import fleet_table
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

GPUS = {
    "b200": samples.b200x8(),
    "h100-a": samples.gpus("H100", 4),
    "h100-b": samples.gpus("H100", 4),
    "h200": samples.h200x8(),
}


@pytest.fixture(scope="module")
def fleet():
    return plan_fleet(
        {
            "b200": {"gpus": GPUS["b200"], "address": "10.0.0.1", "choices": {"engine": "vllm"}},
            "h100-a": {"gpus": GPUS["h100-a"], "address": "10.0.1.1", "cell": "pair"},
            "h100-b": {"gpus": GPUS["h100-b"], "address": "10.0.1.2", "cell": "pair"},
            "h200": {"gpus": GPUS["h200"], "address": "10.0.2.1", "choices": {"engine": "sglang"}},
        }
    )


def _hosts(fleet, failed=()):
    """The play's view after verify: every endpoint passed, except the containers in `failed`."""
    out = []
    for name, planned in fleet["hosts"].items():
        verify = [
            {
                "container": i["container"]["name"],
                "passed": i["container"]["name"] not in failed,
                "result": "FAILED: models" if i["container"]["name"] in failed else "passed 4/4",
                "openai_base_url": "http://%s:%d/v1" % (name, i["port"]),
            }
            for i in planned["instances"]
            if i["serves_http"]
        ]
        out.append(
            {
                "host": name,
                "gpus": GPUS[name],
                "gpus_total": planned["gpus_total"],
                "gpus_used": planned["gpus_used"],
                "instances": planned["instances"],
                "verify": verify,
                "auth": True,
            }
        )
    return out


def test_one_row_per_instance_with_its_gpus_role_and_endpoint(fleet):
    rows = fleet_instance_rows(_hosts(fleet))
    by_host = {}
    for r in rows:
        by_host.setdefault(r["host"], []).append(r)
    assert [r["uses"] for r in by_host["b200"]] == ["0-3 (4)", "4-7 (4)"]
    assert [r["role"] for r in by_host["b200"]] == ["standalone", "standalone"]
    assert [r["endpoint"] for r in by_host["b200"]] == ["http://b200:8000/v1", "http://b200:8001/v1"]
    assert [r["role"] for r in by_host["h100-a"] + by_host["h100-b"]] == ["head pair", "worker pair"]
    # The worker serves no endpoint: its head is verified for the whole cell.
    assert by_host["h100-b"][0]["endpoint"] == "-" and by_host["h100-b"][0]["verify"] == "joins head"
    assert by_host["h100-a"][0]["tp"] == 8
    assert len(by_host["h200"]) == 2 and all(r["verify"] == "passed 4/4" for r in rows if r["role"] != "worker pair")
    assert {r["auth"] for r in rows} == {"key"}


def test_a_failed_replica_shows_in_its_own_row_only(fleet):
    second = fleet["hosts"]["b200"]["instances"][1]["container"]["name"]
    rows = fleet_instance_rows(_hosts(fleet, failed={second}))
    b200 = [r for r in rows if r["host"] == "b200"]
    assert [r["verify"] for r in b200] == ["passed 4/4", "FAILED: models"]


def test_totals_count_gpus_replicas_and_cells(fleet):
    line = fleet_totals(_hosts(fleet))
    assert line == (
        "Fleet: 4 hosts, 24 GPUs, 24 serving, 0 idle; 5 replicas (4 standalone, 1 multi-node cells); "
        "5 endpoints, 5 verified"
    )


def test_a_single_host_plan_without_a_fleet_plan_is_one_replica_on_all_gpus():
    plan = plan_fleet({"h": {"gpus": samples.h100x8(), "address": "10.0.0.9"}})["hosts"]["h"]["instances"][0]
    single = dict(plan)
    for key in ("gpu_ids", "role", "cell", "serves_http", "index"):
        single.pop(key, None)  # a plan made by serving_plan alone has none of the fleet keys
    hosts = [
        {
            "host": "h",
            "gpus": samples.h100x8(),
            "instances": [single],
            "verify": [{"passed": True, "result": "passed 4/4"}],
            "auth": None,
        }
    ]
    (row,) = fleet_instance_rows(hosts)
    assert (row["uses"], row["role"], row["auth"], row["verify"]) == ("all 8", "standalone", "-", "passed 4/4")
    assert fleet_totals(hosts).startswith("Fleet: 1 hosts, 8 GPUs, 8 serving, 0 idle; 1 replicas")


def test_the_rows_print_as_a_table(fleet):
    lines = fleet_table(fleet_instance_rows(_hosts(fleet)), ["host=Host", "uses=Uses", "role=Role", "verify=Verify"])
    assert lines[0].split() == ["Host", "Uses", "Role", "Verify"] and len(lines) == 2 + 6


def test_bad_input_names_what_it_expects():
    with pytest.raises(AnsibleFilterError, match="expected a list of"):
        fleet_totals([{"no_host": 1}])
