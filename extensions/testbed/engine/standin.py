"""TEST DOUBLE: starts the llmfleet emulator in the engine stand-in image.

The production unit passes no EMULATOR_* settings (the plan stays production). Tests that need a
fault or a timing preset write them to a test-only file on the test host, in the Hugging Face
cache directory that every plan mounts at /root/.cache/huggingface:

    <hf_cache_dir>/.llmfleet-testbed/emulator.env     (KEY=VALUE lines, EMULATOR_* keys only)

Variables given to the container itself (docker run -e) win over the file.
"""

import os
import sys

SETTINGS = "/root/.cache/huggingface/.llmfleet-testbed/emulator.env"


def load_settings(path=SETTINGS):
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("EMULATOR_"):
            os.environ.setdefault(key, value)


def main():
    load_settings()
    engine, argv = sys.argv[1], sys.argv[2:]
    from llmfleet_emulator import main_sglang, main_vllm

    return (main_vllm if engine == "vllm" else main_sglang)(argv)


if __name__ == "__main__":
    sys.exit(main())
