"""Start and stop the collection's engine emulator (extensions/emulator) on this host.

Used by the benchmark scripts (benchmarks/) and the client's tests: a real server process on a free
local port, started the way the engines are (``python3 -m llmfleet_emulator vllm serve ...``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EMULATOR_PATH = ROOT / "extensions" / "emulator"
if str(EMULATOR_PATH) not in sys.path:
    sys.path.insert(0, str(EMULATOR_PATH))

# the one starter of the emulator process (tests, benchmark scripts, bench_chunks.py)
from llmfleet_emulator.process import EmulatorProcess, free_port  # noqa: E402, F401

MODEL = "deepseek-ai/DeepSeek-V4-Flash"
SERVED = "deepseek"


class Emulator(EmulatorProcess):
    """``with Emulator(env={...}) as emu: emu.base_url`` -- a started emulator that answers /health."""

    def __init__(self, env=None, args=(), port=None, ready_timeout=60.0, python=sys.executable, log_path=None):
        full_env = dict(os.environ)
        full_env.setdefault("EMULATOR_LOAD_SECONDS", "0")
        full_env.update(env or {})
        argv = ["vllm", "serve", "--model", MODEL, "--served-model-name", SERVED, "--host", "127.0.0.1"]
        port = port or free_port()
        super().__init__(
            argv + ["--port", str(port)] + list(args),
            env=full_env,
            port=port,
            python=python,
            log_path=log_path,
            ready="health",
            # its worker processes share its session: stop() signals them together
            new_session=True,
        )
        self.ready_timeout = ready_timeout

    def start(self, wait=True, timeout=None):
        try:
            return super().start(wait=wait, timeout=timeout or self.ready_timeout)
        except Exception:
            self.stop()
            raise
