"""The serving_plan module: options, check mode, and one place that turns PlanError into fail_json."""

import json

from helpers import gpu_fact_samples as samples
from helpers.module_runner import run_module

from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan
from ansible_collections.llmfleet.serving.plugins.modules import serving_plan


def test_module_returns_the_planners_plan_unchanged_in_check_mode():
    result = run_module(serving_plan, {"gpus": samples.h100x8()}, check_mode=True)
    assert result["changed"] is False
    assert json.dumps(result["plan"]) == json.dumps(build_plan(gpus=samples.h100x8()))


def test_module_defaults_are_the_seeds():
    plan = run_module(serving_plan, {"gpus": samples.b200x8()})["plan"]
    assert (plan["profile"], plan["engine"], plan["port"], plan["served_model_name"]) == (
        "deepseek-v4-flash",
        "vllm",
        8000,
        "deepseek",
    )
    assert plan["container"]["volumes"] == ["/root/.cache/huggingface:/root/.cache/huggingface"]


def test_module_passes_every_option_through():
    args = {
        "gpus": samples.b200x8(),
        "engine": "sglang",
        "tensor_parallel_size": 8,
        "port": "9000",
        "served_model_name": "dsv4",
        "hf_cache_dir": "/srv/hf",
        "extra_args": ["--enable-metrics"],
        "env": {"NCCL_DEBUG": "WARN"},
        "speculative": "no",
        "container_name": "dsv4-a",
        "image": "lmsysorg/sglang:deepseek-v4-blackwell",
    }
    plan = run_module(serving_plan, args)["plan"]
    assert plan["tensor_parallel_size"] == 8 and plan["port"] == 9000
    assert "--speculative-algo" not in plan["command"]
    assert plan["command"][-1] == "--enable-metrics"
    assert plan["container"]["name"] == "dsv4-a"
    assert plan["env"] == {"NCCL_DEBUG": "WARN"}


def test_plan_error_becomes_fail_json_with_the_message():
    result = run_module(serving_plan, {"gpus": samples.gpus("A100")}, expect_failure=True, check_mode=True)
    assert result["msg"].startswith("gpus: 8 x A100 (ampere, compute capability 8.0) cannot serve deepseek-v4-flash")
    assert "plan" not in result


def test_unknown_engine_is_refused_by_the_argument_spec():
    result = run_module(serving_plan, {"gpus": samples.b200x8(), "engine": "trtllm"}, expect_failure=True)
    assert "engine" in result["msg"] and "vllm, sglang, auto" in result["msg"]


def test_gpus_is_required():
    result = run_module(serving_plan, {}, expect_failure=True)
    assert "missing required arguments: gpus" in result["msg"]


def test_previous_plan_gives_the_changes_and_the_restart_decision():
    deployed = build_plan(gpus=samples.b200x8(), engine="vllm")
    result = run_module(
        serving_plan,
        {"gpus": samples.b200x8(), "engine": "vllm", "tensor_parallel_size": 8, "previous_plan": deployed},
        check_mode=True,
    )
    assert result["restart_required"] is True and result["changed"] is True
    assert "tensor_parallel_size: 4 -> 8" in [c["summary"] for c in result["changes"]]


def test_previous_plan_unchanged_is_no_change_and_no_restart():
    deployed = build_plan(gpus=samples.h100x8())
    result = run_module(serving_plan, {"gpus": samples.h100x8(), "previous_plan": deployed})
    assert (result["changed"], result["restart_required"], result["changes"]) == (False, False, [])


def test_diff_mode_shows_each_changed_key_before_and_after():
    deployed = build_plan(gpus=samples.b200x8(), engine="vllm")
    result = run_module(
        serving_plan,
        {"gpus": samples.b200x8(), "engine": "vllm", "tensor_parallel_size": 8, "previous_plan": deployed},
        diff=True,
    )
    assert "tensor_parallel_size: 4\n" in result["diff"]["before"]
    assert "tensor_parallel_size: 8\n" in result["diff"]["after"]
