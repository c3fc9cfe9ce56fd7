"""Golden tests: the planner reproduces the seed guide's three `docker run` commands token for token.

The expected tokens are parsed from tests/fixtures/seed_commands.txt, a verbatim copy of the seed's
commands, so moving, adding or dropping one token in the profile data fails here.
"""

import shlex
from pathlib import Path

import gpu_fact_samples as samples
import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan

SEED_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "seed_commands.txt"
# docker options in the seed that take a value as the next token
_DOCKER_VALUE_FLAGS = ("--gpus", "-p", "-e", "-v")


def seed_commands():
    """The seed's commands as argument vectors (backslash continuations joined, then shlex-split)."""
    text = "\n".join(line for line in SEED_FILE.read_text().splitlines() if not line.startswith("#"))
    blocks = [block for block in text.strip().split("\n\n") if block.strip()]
    return [shlex.split(block.replace("\\\n", " ")) for block in blocks]


def parse_docker_run(tokens):
    """Split a seed `docker run` into (image, env, command)."""
    assert tokens[:2] == ["docker", "run"]
    env = {}
    i = 2
    while tokens[i].startswith("-"):
        if tokens[i] in _DOCKER_VALUE_FLAGS:
            if tokens[i] == "-e":
                key, value = tokens[i + 1].split("=", 1)
                env[key] = value
            i += 2
        else:
            i += 1
    return tokens[i], env, tokens[i + 1 :]


SEED = seed_commands()
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
