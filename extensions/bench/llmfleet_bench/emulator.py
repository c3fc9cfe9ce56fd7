"""Start and stop the collection's engine emulator (extensions/emulator) on this host.

Used by the benchmark scripts (benchmarks/) and the client's tests: a real server process on a free
local port, started the way the engines are (``python3 -m llmfleet_emulator vllm serve ...``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EMULATOR_PATH = ROOT / "extensions" / "emulator"
MODEL = "deepseek-ai/DeepSeek-V4-Flash"
SERVED = "deepseek"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """``with Emulator(env={...}) as emu: emu.base_url`` -- a started, ready emulator."""

    def __init__(self, env=None, args=(), port=None, ready_timeout=60.0, python=sys.executable, log_path=None):
        self.port = port or free_port()
        self.env = dict(env or {})
        self.args = list(args)
        self.ready_timeout = ready_timeout
        self.python = python
        self.log_path = log_path
        self.proc = None
        self._log = None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def command(self):
        return [
            self.python,
            "-m",
            "llmfleet_emulator",
            "vllm",
            "serve",
            "--model",
            MODEL,
            "--served-model-name",
            SERVED,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ] + self.args

    def start(self):
        env = dict(os.environ)
        env.setdefault("EMULATOR_LOAD_SECONDS", "0")
        env.update(self.env)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(EMULATOR_PATH)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            self.command(), env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "the emulator exited with code %s (command: %s)" % (self.proc.returncode, " ".join(self.command()))
                )
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the emulator did not become ready within %.0f s" % self.ready_timeout)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # the emulator's worker processes share its session (started above): stop them together
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self.proc = None

    def _signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
