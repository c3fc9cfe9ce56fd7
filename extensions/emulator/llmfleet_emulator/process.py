"""Start the emulator as its own process on this machine: the one starter its users share.

The emulator's and the collection's tests (extensions/emulator/tests/emulator_harness.py), the benchmark
scripts (extensions/bench/llmfleet_bench/emulator.py) and bench_chunks.py all start it through
:class:`EmulatorProcess`: ``python3 -m llmfleet_emulator ARGV --host H --port P``, the way the engines
start, with this folder's parent on PYTHONPATH, then wait until it answers.

Standard library only: it runs wherever the emulator does (test hosts, the benchmark's virtual environment).
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

# extensions/emulator: the folder that holds the llmfleet_emulator package (what PYTHONPATH must name)
EMULATOR_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class EmulatorStartError(RuntimeError):
    """The emulator exited, or did not answer, before it was ready."""


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class EmulatorProcess:
    """A started emulator: ``with EmulatorProcess(["vllm", "serve", "--model", "m"]) as emu: emu.base_url``.

    ``env``: the whole environment of the process (default: this process's), PYTHONPATH gets
    EMULATOR_DIR in front. ``log_path``: where its stdout and stderr go (default: nowhere).
    ``ready``: "port" (its port accepts connections) or "health" (GET /health answers 200: the model is
    loaded). ``new_session``: start it in its own session so that :meth:`stop` signals its worker
    processes too.
    """

    def __init__(
        self,
        argv,
        env=None,
        port=None,
        host="127.0.0.1",
        python=None,
        log_path=None,
        ready="port",
        new_session=False,
    ):
        if ready not in ("port", "health"):
            raise ValueError("ready must be 'port' or 'health', got %r" % (ready,))
        self.host = host
        self.port = port or free_port(host)
        self.argv = list(argv)
        # the caller's own --host/--port win (a test that binds 0.0.0.0, a fixed port)
        if "--host" not in self.argv:
            self.argv += ["--host", host]
        if "--port" not in self.argv:
            self.argv += ["--port", str(self.port)]
        self.env = dict(os.environ if env is None else env)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [EMULATOR_DIR] + ([self.env["PYTHONPATH"]] if self.env.get("PYTHONPATH") else [])
        )
        self.python = python or sys.executable
        self.log_path = log_path
        self.ready = ready
        self.new_session = new_session
        self.proc = None
        self.started = None
        self._log = None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def command(self):
        return [self.python, "-m", "llmfleet_emulator"] + self.argv

    def start(self, wait=True, timeout=30.0):
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.command(), env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=self.new_session
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmulatorStartError(
                    "the emulator exited with code %s (command: %s)%s"
                    % (self.proc.returncode, " ".join(self.command()), self._log_tail())
                )
            if self._answers():
                return self
            time.sleep(0.02 if self.ready == "port" else 0.1)
        raise EmulatorStartError(
            "the emulator did not %s within %.0f s%s"
            % ("open its port" if self.ready == "port" else "answer /health", timeout, self._log_tail())
        )

    def _answers(self):
        if self.ready == "port":
            return port_open(self.port)
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as fh:
                return ":\n" + fh.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def _signal(self, sig):
        if self.new_session:
            # the emulator's worker processes share its session (started above): stop them together
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        else:
            self.proc.send_signal(sig)

    def __enter__(self):
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc):
        self.stop()
