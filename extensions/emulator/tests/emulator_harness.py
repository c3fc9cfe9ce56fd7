"""Start the emulator as a real subprocess on a free 127.0.0.1 port, talk to it over HTTP.

The one harness of the emulator's own tests and of the module tests that run against it
(tests/conftest.py puts this folder on sys.path).

The interpreter is this test run's Python unless EMULATOR_TEST_PYTHON names another one (for
example a virtual environment with Debian bookworm's aiohttp 3.8.4, to check the stand-in image's
library versions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# the emulator package lives one folder up; tests/unit import this harness without the emulator conftest
EMULATOR_PARENT = str(Path(__file__).resolve().parents[1])
if EMULATOR_PARENT not in sys.path:
    sys.path.insert(0, EMULATOR_PARENT)

from llmfleet_emulator import process as _process
from llmfleet_emulator.process import EMULATOR_DIR, EmulatorProcess, EmulatorStartError, free_port

# the tests import port_open from here, with the harness's other helpers
port_open = _process.port_open

PYTHON = os.environ.get("EMULATOR_TEST_PYTHON") or sys.executable

# The seed guide's three server command lines (seed/deepseek-v4-flash-deployment-guide.txt),
# as argv after `python3 -m llmfleet_emulator`, with the port left to the test.
SEED_B200_SGLANG = [
    "sglang",
    "--model-path",
    "deepseek-ai/DeepSeek-V4-Flash",
    "--served-model-name",
    "deepseek",
    "--tp",
    "4",
    "--host",
    "127.0.0.1",
    "--trust-remote-code",
    "--mem-fraction-static",
    "0.9",
    "--moe-runner-backend",
    "flashinfer_mxfp4",
    "--speculative-algo",
    "EAGLE",
    "--speculative-num-steps",
    "3",
    "--speculative-eagle-topk",
    "1",
    "--speculative-num-draft-tokens",
    "4",
    "--chunked-prefill-size",
    "4096",
    "--disable-flashinfer-autotune",
]
SEED_H100_SGLANG = [
    "sglang",
    "--model-path",
    "sgl-project/DeepSeek-V4-Flash-FP8",
    "--served-model-name",
    "deepseek",
    "--tp",
    "8",
    "--host",
    "127.0.0.1",
    "--trust-remote-code",
    "--mem-fraction-static",
    "0.85",
    "--speculative-algo",
    "EAGLE",
    "--speculative-num-steps",
    "3",
    "--speculative-eagle-topk",
    "1",
    "--speculative-num-draft-tokens",
    "4",
    "--chunked-prefill-size",
    "4096",
    "--disable-flashinfer-autotune",
]
SEED_H100_ENV = {"SGLANG_DSV4_FP4_EXPERTS": "0"}
SEED_B200_VLLM = [
    "vllm",
    "serve",
    "--model",
    "deepseek-ai/DeepSeek-V4-Flash",
    "--served-model-name",
    "deepseek",
    "--tensor-parallel-size",
    "4",
    "--enable-expert-parallel",
    "--kv-cache-dtype",
    "fp8",
    "--block-size",
    "256",
    "--max-model-len",
    "auto",
    "--trust-remote-code",
    "--gpu-memory-utilization",
    "0.9",
    "--tokenizer-mode",
    "deepseek_v4",
    "--no-disable-hybrid-kv-cache-manager",
    "--tool-call-parser",
    "deepseek_v4",
    "--enable-auto-tool-choice",
    "--reasoning-parser",
    "deepseek_v4",
    "--host",
    "127.0.0.1",
]


def run_cli(argv, env=None, timeout=20):
    """Run the emulator to completion (argument errors, load faults); returns CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=str(EMULATOR_DIR), EMULATOR_LOAD_SECONDS="0.2")
    full_env.update(env or {})
    return subprocess.run(
        [PYTHON, "-m", "llmfleet_emulator"] + list(argv),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Emulator(EmulatorProcess):
    """A running emulator subprocess, started by the shared starter (llmfleet_emulator/process.py).

    What the tests add: a clean environment (no developer's EMULATOR_* or key), a short load, no warm-up,
    the log kept for the test to read, and an AssertionError (with the log) when it does not start.
    """

    def __init__(self, argv, env=None, port=None, wait=True, load_seconds="0.1", log_dir=None):
        """``log_dir``: keep the emulator's output there (a test's tmp_path) instead of a temporary file."""
        full_env = dict(os.environ, EMULATOR_LOAD_SECONDS=load_seconds, EMULATOR_WARMUP_SECONDS="0")
        for var in list(full_env):
            if var.startswith("EMULATOR_") and var not in (
                "EMULATOR_LOAD_SECONDS",
                "EMULATOR_WARMUP_SECONDS",
                "EMULATOR_TEST_PYTHON",
            ):
                del full_env[var]  # a developer's own EMULATOR_* must not leak into the tests
        full_env.pop("VLLM_API_KEY", None)  # nor their key: a test that wants one passes it in env
        full_env.update(env or {})
        port = port or free_port()
        if log_dir is not None:
            log_path = Path(log_dir) / ("emulator-%d.log" % port)
            self.keep_log = True
        else:
            with tempfile.NamedTemporaryFile(prefix="emulator-", suffix=".log", delete=False) as fh:
                log_path = Path(fh.name)
            self.keep_log = False
        super().__init__(argv, env=full_env, port=port, python=PYTHON, log_path=log_path)
        self.base = self.base_url
        self.start(wait=False)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=30.0):
        try:
            return super().wait_ready(timeout)
        except EmulatorStartError as err:
            raise AssertionError("%s\n%s" % (err, self.log())) from err

    def log(self):
        return self.log_path.read_text()

    def stop(self):
        super().stop()
        if not self.keep_log and self.log_path.exists():
            os.unlink(self.log_path)

    # ---- HTTP --------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, raw=None, timeout=30):
        """(status, headers, parsed JSON or text) of one request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, hdrs, payload = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            status, hdrs, payload = err.code, dict(err.headers), err.read()
        text = payload.decode()
        try:
            return status, hdrs, json.loads(text)
        except ValueError:
            return status, hdrs, text

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def stream(self, path, body, headers=None, timeout=30):
        """Stream an SSE response: list of (time.monotonic() at receipt, event name, data string)."""
        data = json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method="POST", headers=headers or {})
        req.add_header("Content-Type", "application/json")
        events = []
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            event = None
            for line in resp:
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.append((time.monotonic(), event, line[6:]))
                    event = None
        return events


def chat_body(content="hello emulator", max_tokens=8, stream=True, **extra):
    body = {
        "model": "deepseek",
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
        "max_completion_tokens": max_tokens,
        "ignore_eos": True,
    }
    body.update(extra)
    return body


def chunks_of(events):
    """Parsed JSON of data events, without [DONE]."""
    return [json.loads(d) for _t, _e, d in events if d != "[DONE]"]
