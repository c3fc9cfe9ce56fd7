"""verify_via_router: the verify role checks the router's endpoint, not the host's, and prints client settings that
point at the router. The "router" here is an emulator on another port than the plan's (what a client would reach
through HAProxy); the host's own port is closed, so a pass proves the check went to the router URL."""

import socket

import pytest
from helpers.playbook import task_result
from helpers.verify_server import SEED_VLLM, run_verify, start_emulator

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_verify_goes_through_the_router_url(tmp_path):
    # 127.0.0.2: a non-loopback-named address of this machine (the printed settings keep a router URL as given,
    # but replace loopback ones), so the emulator listens on every address.
    router = start_emulator(tmp_path, SEED_VLLM + ["--host", "0.0.0.0"])
    try:
        proc, out = run_verify(
            tmp_path,
            router,
            {
                "llmfleet_plan": {"port": free_port(), "served_model_name": "deepseek", "readiness": {"timeout_s": 5}},
                "verify_via_router": True,
                "verify_router_url": "http://127.0.0.2:%d" % router.port,
            },
        )
    finally:
        router.stop()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    fact = task_result(out, "Record the outcome")["ansible_facts"]["llmfleet_verify"]
    assert fact["via_router"] is True and fact["passed"] is True
    assert fact["base_url"] == "http://127.0.0.2:%d" % router.port
    settings = task_result(out, "Show the client settings")["msg"]
    assert '  export ANTHROPIC_BASE_URL="http://127.0.0.2:%d"' % router.port in settings
    assert '  export OPENAI_BASE_URL="http://127.0.0.2:%d/v1"' % router.port in settings


def test_via_router_without_a_router_is_a_clear_error(tmp_path):
    emu = start_emulator(tmp_path, SEED_VLLM)
    try:
        proc, out = run_verify(tmp_path, emu, {"verify_via_router": True})
    finally:
        emu.stop()
    assert proc.returncode != 0
    result = task_result(out, "Check that there is a router endpoint")
    assert result["failed"] and "verify_via_router is true but there is no router endpoint" in result["msg"]
    assert "verify_router_url" in result["msg"]
