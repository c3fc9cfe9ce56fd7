"""The seed guide's three server commands, parsed from tests/fixtures/seed_commands.txt.

The golden tests (plugins/module_utils/test_plan_golden.py) and the fleet planner's tests compare plans
with these tokens.
"""

import shlex

from helpers.paths import FIXTURES

SEED_FILE = FIXTURES / "seed_commands.txt"
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
