"""The fleet_plan module, run as on a target: options, check mode, types read as serving_plan reads them."""

import json

from helpers import gpu_fact_samples as samples
from helpers.module_runner import run_module

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import CHOICE_KEYS, CHOICES_SPEC, plan_fleet
from ansible_collections.llmfleet.serving.plugins.modules import fleet_plan, serving_plan


def fleet_args():
    return {
        "hosts": {
            "b200": {"gpus": samples.b200x8(), "address": "10.0.0.1", "choices": {"engine": "vllm"}},
            "h100-a": {"gpus": samples.gpus("H100", 4), "address": "10.0.1.1", "cell": "pair"},
            "h100-b": {"gpus": samples.gpus("H100", 4), "address": "10.0.1.2", "cell": "pair"},
        },
        "order": ["b200", "h100-a", "h100-b"],
    }


def test_module_returns_the_fleet_planners_plan_in_check_mode():
    args = fleet_args()
    result = run_module(fleet_plan, args, check_mode=True)
    assert result["changed"] is False
    assert json.dumps(result["fleet"], sort_keys=True) == json.dumps(
        plan_fleet(fleet_args()["hosts"], args["order"]), sort_keys=True
    )
    assert [e["host"] for e in result["fleet"]["endpoints"]] == ["b200", "b200", "h100-a"]


def test_a_one_replica_host_gets_the_same_plan_as_serving_plan():
    choices = {"engine": "sglang", "port": "9000", "speculative": "no", "extra_args": ["--enable-metrics"]}
    fleet = run_module(
        fleet_plan, {"hosts": {"h": {"gpus": samples.h100x8(), "address": "10.0.0.5", "choices": dict(choices)}}}
    )["fleet"]
    (instance,) = fleet["hosts"]["h"]["instances"]
    single = run_module(serving_plan, dict(choices, gpus=samples.h100x8()))["plan"]
    assert {k: v for k, v in instance.items() if k in single} == single
    assert instance["port"] == 9000 and "--speculative-algo" not in instance["command"]


def test_every_serving_plan_option_but_gpus_is_a_host_choice():
    # An option added to serving_plan must be accepted in hosts.<name>.choices too.
    options = sorted(k for k in serving_plan.ARGUMENT_SPEC if k != "gpus")
    assert sorted(CHOICE_KEYS) == options
    assert sorted(CHOICES_SPEC) == options


def test_a_refusal_fails_with_the_host_cell_and_option():
    args = fleet_args()
    args["hosts"]["h100-b"]["node_rank"] = 0
    args["hosts"]["h100-a"]["node_rank"] = 0
    result = run_module(fleet_plan, args, expect_failure=True)
    assert result["msg"].startswith("cell pair has two heads")
    assert (result["cell"], result["option"]) == ("pair", "node_rank")


def test_a_choice_of_the_wrong_type_names_the_host():
    args = fleet_args()
    args["hosts"]["b200"]["choices"]["port"] = "eighty"
    result = run_module(fleet_plan, args, expect_failure=True)
    assert result["msg"].startswith("hosts.b200.choices: ")
    assert "port" in result["msg"] and result["host"] == "b200"


def test_hosts_is_required():
    result = run_module(fleet_plan, {}, expect_failure=True)
    assert "hosts" in result["msg"]
