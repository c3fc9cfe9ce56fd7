"""TEST DOUBLE: `python3 -m sglang.launch_server ARGS` in the engine stand-in image runs the
emulator with the same arguments (SGLang's images have no entrypoint; the plan's command starts
this module)."""

import sys

sys.path.insert(0, "/opt/emulator")
from standin import load_settings  # noqa: E402  pylint: disable=wrong-import-position

if __name__ == "__main__":
    load_settings()
    from llmfleet_emulator import main_sglang

    sys.exit(main_sglang(sys.argv[1:]))
