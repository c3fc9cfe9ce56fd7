"""Fault switches (EMULATOR_FAULT_*): each one changes what a client sees, as documented."""

import json
import socket

from emulator_harness import Emulator, chat_body, chunks_of

BASE = ["vllm", "serve", "--model", "m", "--served-model-name", "deepseek", "--host", "127.0.0.1"]


def _emulator(**faults):
    env = {"EMULATOR_PRESET": "fast"}
    env.update({"EMULATOR_FAULT_" + k.upper(): str(v) for k, v in faults.items()})
    return Emulator(BASE, env=env)


def test_exit_after_requests():
    emu = _emulator(exit_after_requests=2)
    try:
        for _i in range(2):
            assert emu.post("/v1/chat/completions", chat_body(stream=False))[0] == 200
        assert emu.proc.wait(timeout=10) == 1
        assert "EMULATOR_FAULT_EXIT_AFTER_REQUESTS" in emu.log()
    finally:
        emu.stop()


def test_dead_after_requests_makes_health_503():
    emu = _emulator(dead_after_requests=1)
    try:
        assert emu.get("/health")[0] == 200
        assert emu.post("/v1/chat/completions", chat_body(stream=False))[0] == 200
        assert emu.get("/health")[0] == 503
        status, _hdrs, err = emu.post("/v1/chat/completions", chat_body(stream=False))
        assert status == 500 and "EngineDeadError" in err["error"]["message"]
        assert emu.proc.poll() is None
    finally:
        emu.stop()


def test_http500_fraction_fails_some_requests_and_is_seeded():
    def pattern():
        emu = _emulator(http500_fraction=0.3)
        try:
            codes = [emu.post("/v1/chat/completions", chat_body(stream=False, max_tokens=1))[0] for _i in range(40)]
        finally:
            emu.stop()
        return codes

    first = pattern()
    assert set(first) == {200, 500}
    assert 4 <= first.count(500) <= 24
    assert pattern() == first  # same seed, same failures


def test_http500_body_is_openai_shaped():
    emu = _emulator(http500_fraction=1.0)
    try:
        status, _hdrs, err = emu.post("/v1/chat/completions", chat_body())
        assert status == 500
        assert err["error"]["type"] == "InternalServerError" and err["error"]["code"] == 500
    finally:
        emu.stop()


def test_stall_after_chunks_keeps_the_connection_open():
    emu = _emulator(stall_after_chunks=3)
    try:
        body = json.dumps(chat_body(max_tokens=50)).encode()
        sock = socket.create_connection(("127.0.0.1", emu.port))
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        sock.settimeout(1.5)
        received = b""
        try:
            while True:
                data = sock.recv(65536)
                assert data, "the server closed a stalled stream"
                received += data
        except socket.timeout:
            pass  # nothing more arrives, yet the connection is still open
        assert received.count(b"data: ") == 4  # role chunk + 3 content chunks
        assert b"[DONE]" not in received
        sock.close()
    finally:
        emu.stop()


def test_stop_early_even_with_ignore_eos():
    emu = _emulator(stop_early=5)
    try:
        chunks = chunks_of(
            emu.stream("/v1/chat/completions", chat_body(max_tokens=50, stream_options={"include_usage": True}))
        )
        assert chunks[-1]["usage"]["completion_tokens"] == 5
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    finally:
        emu.stop()


def test_ignore_ignore_eos():
    emu = _emulator(ignore_ignore_eos=1)
    try:
        body = emu.post("/v1/chat/completions", chat_body(stream=False, max_tokens=1000))[2]
        assert body["usage"]["completion_tokens"] < 1000
        assert body["choices"][0]["finish_reason"] == "stop"
    finally:
        emu.stop()


def test_faults_are_listed_in_version():
    emu = _emulator(stop_early=5, http500_fraction=0.0)
    try:
        assert emu.get("/version")[2]["emulator"]["faults"] == ["stop_early"]
    finally:
        emu.stop()


def test_no_detokenize_leaves_tokenize_working():
    emu = _emulator(no_detokenize=1)
    try:
        status, _h, body = emu.post("/tokenize", {"model": "deepseek", "prompt": "hello world"})
        assert status == 200 and body["tokens"]
        status, _h, body = emu.post("/detokenize", {"model": "deepseek", "tokens": body["tokens"]})
        assert status == 404 and body == {"detail": "Not Found"}
    finally:
        emu.stop()
