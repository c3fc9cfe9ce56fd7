"""Golden tests: the planner reproduces the seed guide's three `docker run` commands token for token.

The expected tokens are parsed from tests/fixtures/seed_commands.txt, a verbatim copy of the seed's
commands, so moving, adding or dropping one token in the profile data fails here.
"""

import pytest
from helpers import gpu_fact_samples as samples
from helpers.seed import SEED, parse_docker_run

from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan

CASES = [
    # (seed block, GPUs, engine, deployment the plan must say it used)
    pytest.param(0, samples.b200x8, "sglang", "b200-sglang", id="8xB200-sglang"),
    pytest.param(1, samples.h100x8, "sglang", "h100-sglang", id="8xH100-sglang"),
    pytest.param(2, samples.b200x8, "vllm", "b200-vllm", id="8xB200-vllm"),
]


def test_fixture_holds_the_three_seed_commands():
    assert len(SEED) == 3
    assert [parse_docker_run(tokens)[0] for tokens in SEED] == [
        "lmsysorg/sglang:deepseek-v4-blackwell",
        "lmsysorg/sglang:deepseek-v4-hopper",
        "vllm/vllm-openai:deepseekv4-cu130",
    ]


@pytest.mark.parametrize("block, gpus, engine, deployment", CASES)
def test_image_env_command_are_the_seeds(block, gpus, engine, deployment):
    image, env, command = parse_docker_run(SEED[block])
    plan = build_plan(gpus=gpus(), engine=engine)
    assert plan["deployment"] == deployment
    assert plan["image"] == image
    assert plan["env"] == env
    assert plan["command"] == command


@pytest.mark.parametrize("block, gpus, engine, deployment", CASES)
def test_docker_run_is_the_seeds(block, gpus, engine, deployment):
    # The seed mounts ~/.cache/huggingface; the unit runs docker as root, so ~ is /root.
    expected = [token.replace("~/", "/root/", 1) if token.startswith("~/") else token for token in SEED[block]]
    plan = build_plan(gpus=gpus(), engine=engine)
    assert plan["docker_run"] == expected


def test_engine_auto_on_b200_is_the_seeds_vllm_command():
    image, env, command = parse_docker_run(SEED[2])
    plan = build_plan(gpus=samples.b200x8(), engine="auto")
    assert (plan["engine"], plan["image"], plan["env"], plan["command"]) == ("vllm", image, env, command)


def test_engine_auto_on_h100_is_the_seeds_sglang_command():
    image, env, command = parse_docker_run(SEED[1])
    plan = build_plan(gpus=samples.h100x8(), engine="auto")
    assert (plan["engine"], plan["image"], plan["env"], plan["command"]) == ("sglang", image, env, command)
