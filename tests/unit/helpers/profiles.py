"""Profiles the tests plan with, derived from the built-in ones (_profiles.PROFILES) where they stand for them.

A test profile copied by hand would keep passing after the built-in one changed; what a test profile shares with
a built-in deployment (the flags whose values the planner fills in) is therefore read from PROFILES, and only what
belongs to the test (its build, image, sizes) is written here.
"""

import copy

from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import PROFILES

BUILTIN = "deepseek-v4-flash"


def builtin_deployment(name, model=BUILTIN):
    """A copy of the built-in deployment ``name`` of ``model`` (safe to change)."""
    return copy.deepcopy(next(d for d in PROFILES[model]["deployments"] if d["name"] == name))


def planner_flags(command):
    """The ``flag {placeholder}`` pairs of a built-in command, in its order: what any deployment of that engine
    must carry for the planner to fill in model, name, tensor parallel size and memory fraction. ``{speculative}``
    stands alone (no flag before it), so it is not one of them."""
    flags = []
    for flag, value in zip(command, command[1:]):
        if flag.startswith("--") and value.startswith("{") and value.endswith("}"):
            flags += [flag, value]
    return flags


def tiny_profile(**deployment_changes):
    """A user profile ``tiny``: a 60 GB BF16 build served by vLLM at TP 2 on Hopper, with the built-in vLLM
    deployment's planner flags as its whole command. ``deployment_changes`` replace or add deployment keys."""
    deployment = {
        "name": "hopper-vllm",
        "engine": "vllm",
        "architectures": ["hopper"],
        "build": "bf16",
        "image": "vllm/vllm-openai:v0.20.0-cu129",
        "tensor_parallel_size": 2,
        "mem_fraction": 0.9,
        "env": {"VLLM_LOGGING_LEVEL": "INFO"},
        "command": planner_flags(builtin_deployment("b200-vllm")["command"]),
        "source": "test",
    }
    deployment.update(deployment_changes)
    return {
        "builds": {"bf16": {"model_id": "my-org/tiny", "size_gb": 60, "label": "BF16 build"}},
        "deployments": [deployment],
    }
