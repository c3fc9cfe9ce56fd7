"""Profiles are data: built-in ones validate, users add or override them, malformed ones are named."""

import copy

import pytest
from helpers import gpu_fact_samples as samples
from helpers.profiles import tiny_profile

from ansible_collections.llmfleet.serving.plugins.module_utils import _profiles
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_profile import validate_profile


def test_builtin_profiles_are_valid_and_name_their_sources():
    for name, profile in _profiles.PROFILES.items():
        validate_profile(name, profile)
        assert all(d.get("source") for d in profile["deployments"]), name
        assert all(u.get("source") for u in profile["unsupported"]), name


def test_user_profile_is_added():
    plan = build_plan(
        gpus=samples.h100x8(), model="tiny", engine="vllm", profiles={"tiny": tiny_profile()}, served_model_name="tiny"
    )
    assert (plan["profile"], plan["deployment"], plan["engine"]) == ("tiny", "hopper-vllm", "vllm")
    assert plan["command"] == [
        "--model",
        "my-org/tiny",
        "--served-model-name",
        "tiny",
        "--tensor-parallel-size",
        "2",
        "--gpu-memory-utilization",
        "0.9",
    ]
    assert plan["env"] == {"VLLM_LOGGING_LEVEL": "INFO"}
    assert plan["min_driver"] == "575"
    assert plan["readiness"]["timeout_s"] == 3600
    # engine auto with no auto_engine entry: the first engine with a deployment for these GPUs
    assert build_plan(gpus=samples.h100x8(), model="tiny", profiles={"tiny": tiny_profile()})["engine"] == "vllm"


def test_user_profile_overrides_a_builtin_by_name_and_leaves_the_builtin_alone():
    profile = copy.deepcopy(_profiles.PROFILES["deepseek-v4-flash"])
    h100 = next(d for d in profile["deployments"] if d["name"] == "h100-sglang")
    h100["image"] = "registry.example/sglang:deepseek-v4-hopper-patched"
    overridden = build_plan(gpus=samples.h100x8(), profiles={"deepseek-v4-flash": profile})
    assert overridden["image"] == "registry.example/sglang:deepseek-v4-hopper-patched"
    assert build_plan(gpus=samples.h100x8())["image"] == "lmsysorg/sglang:deepseek-v4-hopper"


def test_user_profile_replaces_the_builtin_as_a_whole():
    with pytest.raises(PlanError, match="no deployment that serves 8 x B200"):
        build_plan(gpus=samples.b200x8(), profiles={"deepseek-v4-flash": tiny_profile()})


MALFORMED = {
    "not a mapping": ("just a string", ["profiles.bad must be a mapping, found str"]),
    "builds missing": ({"deployments": []}, ["profiles.bad: key 'builds' is missing; it must be a mapping"]),
    "wrong type": (
        tiny_profile(tensor_parallel_size="4"),
        ["profiles.bad: key 'deployments[0].tensor_parallel_size' must be an integer, found str \"4\""],
    ),
    "wrong number type": (tiny_profile(mem_fraction="0.9"), ["key 'deployments[0].mem_fraction' must be a number"]),
    "command not a list of strings": (
        tiny_profile(command=["--model", 5]),
        ["key 'deployments[0].command[1]' must be a string, found int 5"],
    ),
    "env value not a string": (tiny_profile(env={"A": 1}), ["key 'deployments[0].env.A' must be a string"]),
    "typo in a key": (
        tiny_profile(tensor_paralel_size=2),
        ["key 'deployments[0].tensor_paralel_size' is not a known key", "tensor_parallel_size"],
    ),
    "unknown engine": (tiny_profile(engine="tgi"), ["key 'deployments[0].engine' is 'tgi'", "sglang, vllm"]),
    "unknown build": (
        tiny_profile(build="fp4"),
        ["key 'deployments[0].build' is 'fp4', which is not in builds (bf16)"],
    ),
    "missing serving key": (tiny_profile(image=None), ["key 'deployments[0].image' must be a string, found NoneType"]),
    "no GPU match keys": (tiny_profile(architectures=None), ["key 'deployments[0].architectures' must be a list"]),
    "missing placeholder": (
        tiny_profile(command=["--model", "{model_id}", "--served-model-name", "x", "-tp", "{tensor_parallel_size}"]),
        ["key 'deployments[0].command' must contain the token '{served_model_name}'"],
    ),
    "mem fraction out of range": (
        tiny_profile(mem_fraction=1.5),
        ["key 'deployments[0].mem_fraction' must be a number in (0, 1], found 1.5"],
    ),
}


@pytest.mark.parametrize("profile, expected", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_user_profile_names_profile_key_and_type(profile, expected):
    with pytest.raises(PlanError) as caught:
        # Validated even when another model is planned: a broken profile surfaces at once.
        build_plan(gpus=samples.b200x8(), profiles={"bad": profile})
    for part in expected:
        assert part in str(caught.value)


def test_deployment_without_gpu_match_keys_is_refused():
    profile = tiny_profile()
    del profile["deployments"][0]["architectures"]
    with pytest.raises(PlanError, match="needs at least one of architectures, compute_capabilities, products"):
        validate_profile("bad", profile)


def test_serving_deployment_without_an_image_is_refused():
    profile = tiny_profile()
    del profile["deployments"][0]["image"]
    with pytest.raises(
        PlanError,
        match=r"key 'deployments\[0\]\.image' is missing \(needed unless the deployment "
        r"has 'refuse'\)",
    ):
        build_plan(gpus=samples.h100x8(), model="bad", profiles={"bad": profile})
