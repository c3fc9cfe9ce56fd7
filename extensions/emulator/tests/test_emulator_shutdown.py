"""Graceful shutdown as the engines do it: SIGTERM (docker stop) lets running streams finish while new requests
and /health get 503 - vLLM with --shutdown-timeout N (up to N s), SGLang always - and vLLM's default cuts them."""

import json
import signal
import threading
import time

from emulator_harness import Emulator, chat_body

VLLM = ["--time-scale", "1", "vllm", "serve", "--model", "m", "--served-model-name", "deepseek", "--host", "127.0.0.1"]
SGLANG = ["--time-scale", "1", "sglang", "--model-path", "m", "--served-model-name", "deepseek", "--host", "127.0.0.1"]
# About 2.8 s at time scale 1 (the default preset on this test host); long enough to signal in the middle.
TOKENS = 200


class _Stream(threading.Thread):
    """One streamed chat completion in the background: its events, or the error that cut it."""

    def __init__(self, emu, max_tokens=TOKENS):
        super().__init__(daemon=True)
        self.emu, self.max_tokens = emu, max_tokens
        self.events, self.error, self.started = [], None, threading.Event()

    def run(self):
        import urllib.request

        req = urllib.request.Request(
            self.emu.base + "/v1/chat/completions",
            data=json.dumps(chat_body(max_tokens=self.max_tokens)).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                for line in resp:
                    line = line.decode().strip()
                    if line.startswith("data: "):
                        self.events.append(line[6:])
                        self.started.set()
        except Exception as exc:  # the cut: a reset or an incomplete chunked read
            self.error = exc
        self.started.set()

    def finished_whole(self):
        chunks = [json.loads(d) for d in self.events if d != "[DONE]"]
        reasons = [c["choices"][0].get("finish_reason") for c in chunks if c.get("choices")]
        return self.error is None and self.events[-1:] == ["[DONE]"] and "length" in reasons


def _terminate_during_stream(emu, max_tokens=TOKENS):
    stream = _Stream(emu, max_tokens)
    stream.start()
    assert stream.started.wait(10), emu.log()
    time.sleep(0.3)
    emu.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    return stream


def test_vllm_shutdown_timeout_finishes_the_running_stream_and_refuses_new_requests():
    emu = Emulator(VLLM + ["--shutdown-timeout", "30"])
    try:
        stream = _terminate_during_stream(emu)
        assert emu.proc.poll() is None, "exited before the running stream finished"
        assert emu.get("/health")[0] == 503
        status, _h, err = emu.post("/v1/chat/completions", chat_body(stream=False))
        assert status == 503 and "shutting down" in err["error"]["message"]
        stream.join(20)
        assert stream.finished_whole(), (stream.error, stream.events[-3:])
        assert emu.proc.wait(timeout=10) == 0
        assert "Graceful shutdown: 1 request(s) running" in emu.log()
    finally:
        emu.stop()


def test_vllm_without_shutdown_timeout_cuts_the_stream_at_once():
    emu = Emulator(VLLM)
    try:
        stream = _terminate_during_stream(emu)
        assert emu.proc.wait(timeout=5) == 0
        stream.join(10)
        assert not stream.finished_whole()
    finally:
        emu.stop()


def test_vllm_shutdown_timeout_bounds_the_wait():
    emu = Emulator(VLLM + ["--shutdown-timeout", "1"])
    try:
        started = time.monotonic()
        stream = _terminate_during_stream(emu, max_tokens=2000)
        assert emu.proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 6
        stream.join(10)
        assert not stream.finished_whole()
        assert "Shutdown timeout of 1 s reached: aborting 1 running request(s)" in emu.log()
    finally:
        emu.stop()


def test_sglang_drains_on_sigterm_with_health_503():
    emu = Emulator(SGLANG)
    try:
        stream = _terminate_during_stream(emu)
        assert emu.proc.poll() is None
        assert emu.get("/health")[0] == 503
        stream.join(20)
        assert stream.finished_whole(), (stream.error, stream.events[-3:])
        assert emu.proc.wait(timeout=10) == 0
    finally:
        emu.stop()


def test_an_idle_server_stops_at_once():
    emu = Emulator(SGLANG)
    try:
        started = time.monotonic()
        emu.proc.send_signal(signal.SIGTERM)
        assert emu.proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 2
    finally:
        emu.stop()
