"""openai_verify end to end in-process, against the REAL engine emulator (extensions/emulator) started as
a subprocess the way the engines start: `python3 -m llmfleet_emulator vllm serve --model ... --port P`.

The only test doubles are systemctl and journalctl (the init-system edge), written into a directory
named fake-systemd-bin and put first on PATH; they report the state and the log of the emulator process.
"""

import json
import os
import sys
import threading
import time
import urllib.request

import pytest
from emulator_harness import port_open
from helpers.module_runner import run_module
from helpers.verify_server import KEY, MASKED, PLAIN_VLLM, SEED_VLLM, start_emulator

from ansible_collections.llmfleet.serving.plugins.modules import openai_verify

ALL = ["health", "models", "chat", "chat_stream", "auth", "tools", "reasoning", "anthropic"]


def proc_exited(pid):
    """True once the process is gone or a zombie (nobody reaps it while the module runs in-process)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.fixture
def emulator(tmp_path):
    started = []

    def start(argv=None, env=None, wait=True):
        emu = start_emulator(tmp_path, argv or PLAIN_VLLM, env, wait)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture(scope="module")
def seed_server(tmp_path_factory):
    """The seed's vLLM command line, with an API key from VLLM_API_KEY as the serve role passes it."""
    emu = start_emulator(tmp_path_factory.mktemp("seed"), SEED_VLLM, {"VLLM_API_KEY": KEY})
    yield emu
    emu.stop()


def args(emu, **extra):
    base = {
        "base_url": emu.base_url,
        "served_model_name": "deepseek",
        "timeout": 20,
        "request_timeout": 20,
        "poll_interval": 0.1,
    }
    base.update(extra)
    return base


def by_name(result):
    return {entry["name"]: entry for entry in result["report"]}


# ---- readiness and the default checks ---------------------------------------------------------


def test_waits_through_loading_then_every_default_check_passes(emulator):
    emu = emulator(env={"EMULATOR_LOAD_SECONDS": "1.0"}, wait=False)
    assert not port_open(emu.port)
    result = run_module(openai_verify, args(emu))
    assert result["changed"] is False and result["passed"] is True
    assert result["checks"] == ["health", "models", "chat", "chat_stream"]
    assert [e["name"] for e in result["report"] if e["passed"]] == result["checks"]
    # The port stayed closed for the 1 s load (plus interpreter start-up); the wait saw it open.
    assert 0.8 <= result["ready_after_s"] < 15
    assert result["polls"] > 3
    report = by_name(result)
    assert report["models"]["detail"] == "/v1/models lists ['deepseek']"
    assert "32 completion tokens" in report["chat"]["detail"]
    assert report["chat_stream"]["detail"].startswith("34 chunks, role chunk, 32 completion tokens")
    assert report["chat_stream"]["detail"].endswith("usage chunk, [DONE]")
    assert all(isinstance(e["latency_ms"], float) for e in result["report"])
    assert result["msg"].startswith("4/4 checks passed (health ")


def test_check_mode_runs_the_same_read_only_checks(emulator):
    emu = emulator()
    result = run_module(openai_verify, args(emu), check_mode=True)
    assert result["changed"] is False
    assert [e["passed"] for e in result["report"]] == [True] * 4


def test_a_base_url_ending_in_v1_still_works_with_a_warning(emulator):
    emu = emulator()
    result = run_module(openai_verify, args(emu, base_url=emu.base_url + "/v1", checks=["models"]))
    assert result["base_url"] == emu.base_url
    assert any("ends in /v1" in w for w in result["warnings"])


# ---- every check against the seed's server, key masked --------------------------------------


def test_every_check_passes_against_the_seed_command_with_a_key(seed_server):
    result = run_module(openai_verify, args(seed_server, api_key=KEY, checks=ALL))
    report = by_name(result)
    assert [e["name"] for e in result["report"]] == ALL
    assert all(e["passed"] for e in result["report"])
    assert report["auth"]["detail"] == (
        "GET /v1/models without a key: 401; with a wrong key: 401; with the key given (%s): 200" % MASKED
    )
    assert report["tools"]["detail"].startswith('tool_calls[0]: get_weather({"city": ')
    assert report["tools"]["detail"].endswith("finish_reason tool_calls")
    assert report["reasoning"]["detail"].startswith("reasoning_content '")
    assert "(message_start ... message_stop), 32 output tokens, stop_reason max_tokens" in report["anthropic"]["detail"]
    assert result["api_key_masked"] == MASKED
    dumped = json.dumps(result, ensure_ascii=False)
    assert KEY not in dumped and KEY[3:-4] not in dumped


def test_with_a_key_auth_joins_the_default_checks(seed_server):
    result = run_module(openai_verify, args(seed_server, api_key=KEY))
    assert result["checks"] == ["health", "models", "chat", "chat_stream", "auth"]


def test_a_wrong_key_fails_with_the_key_masked(seed_server):
    wrong = "sk-wrong-key-99998888777766665555"
    result = run_module(openai_verify, args(seed_server, api_key=wrong), expect_failure=True)
    assert result["failed_check"] == "models"
    assert result["msg"] == (
        "models check failed: 401 Unauthorized: the API key given (sk-\u20265555) is not accepted by %s "
        "(GET /v1/models): use the key the server was started with (serve_api_key; vLLM's VLLM_API_KEY or --api-key)"
        % seed_server.base_url
    )
    assert [(e["name"], e["passed"]) for e in result["report"]] == [("health", True), ("models", False)]
    assert wrong not in json.dumps(result, ensure_ascii=False)


def test_a_server_that_needs_a_key_fails_without_one(seed_server):
    result = run_module(openai_verify, args(seed_server), expect_failure=True)
    assert result["msg"] == (
        "models check failed: 401 Unauthorized from GET %s/v1/models: the server requires an API key; set api_key "
        "(the role's verify_api_key) to the key it was started with" % seed_server.base_url
    )


def test_an_open_endpoint_fails_the_auth_check(emulator):
    emu = emulator()  # started without --api-key / VLLM_API_KEY
    result = run_module(openai_verify, args(emu, api_key=KEY), expect_failure=True)
    assert result["failed_check"] == "auth"
    assert result["msg"].startswith(
        "auth check failed: the endpoint is open: GET %s/v1/models without a key answered 200 although an API key "
        "(%s) is configured" % (emu.base_url, MASKED)
    )


# ---- wrong model, missing parsers ------------------------------------------------------------


def test_a_server_serving_another_model_name(emulator):
    emu = emulator(["vllm", "serve", "--model", "deepseek-ai/DeepSeek-V4-Flash", "--served-model-name", "other"])
    result = run_module(openai_verify, args(emu), expect_failure=True)
    assert result["msg"] == (
        "models check failed: /v1/models lists ['other'] but served_model_name is 'deepseek': the server serves "
        "another model; check serve_served_model_name or the base_url"
    )
    assert result["models"] == ["other"]


def test_chat_against_another_model_name_says_so(emulator):
    emu = emulator(["vllm", "serve", "--model", "deepseek-ai/DeepSeek-V4-Flash", "--served-model-name", "other"])
    result = run_module(openai_verify, args(emu, checks=["chat"]), expect_failure=True)
    assert "answered 404: The model `deepseek` does not exist." in result["msg"]
    assert "served_model_name is 'deepseek': the server serves another model" in result["msg"]


def test_tools_and_reasoning_without_the_parsers_explain_the_flags(emulator):
    emu = emulator()  # no --tool-call-parser / --enable-auto-tool-choice / --reasoning-parser
    tools = run_module(openai_verify, args(emu, checks=["tools"]), expect_failure=True)
    assert tools["msg"].startswith("tools check failed: the server refuses tool calls: ")
    assert "--enable-auto-tool-choice --tool-call-parser NAME" in tools["msg"]
    reasoning = run_module(openai_verify, args(emu, checks=["reasoning"]), expect_failure=True)
    assert reasoning["msg"].startswith("reasoning check failed: no reasoning_content in the reply")
    assert "--reasoning-parser NAME" in reasoning["msg"]


def test_sglang_warm_up_503_is_waited_for_and_anthropic_works(emulator):
    emu = emulator(
        ["sglang", "--model-path", "deepseek-ai/DeepSeek-V4-Flash", "--served-model-name", "deepseek", "--tp", "4"],
        env={"EMULATOR_WARMUP_SECONDS": "1.0"},
    )
    result = run_module(
        openai_verify, args(emu, checks=["health", "models", "chat_stream", "anthropic"], unhealthy_grace=10)
    )
    assert result["passed"] is True
    assert result["ready_after_s"] >= 0.8  # /health said 503 during the warm-up


# ---- failures while waiting -------------------------------------------------------------------


def test_a_server_that_never_becomes_ready_fails_at_the_timeout(emulator):
    emu = emulator(env={"EMULATOR_FAULT_NEVER_READY": "1"}, wait=False)
    started = time.monotonic()
    result = run_module(openai_verify, args(emu, timeout=1.5, poll_interval=0.25), expect_failure=True)
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 5
    assert result["failed_check"] == "readiness" and result["report"] == [] and result["ready_after_s"] is None
    assert result["msg"].startswith(
        "the server did not become ready within 1.5 s: waited for GET %s/health to answer 200 (" % emu.base_url
    )
    assert "last: connection refused (the port is closed, as while the engine loads the model)" in result["msg"]
    assert "raise timeout (the role's verify_timeout)" in result["msg"]


def test_an_engine_dead_behind_its_http_server_fails_on_503(emulator):
    emu = emulator(env={"EMULATOR_FAULT_DEAD_AFTER_REQUESTS": "1"})
    body = json.dumps({"model": "deepseek", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}).encode()
    req = urllib.request.Request(
        emu.base_url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    result = run_module(openai_verify, args(emu, unhealthy_grace=0.3), expect_failure=True)
    assert result["msg"].startswith("GET %s/health answers 503 Service Unavailable (for " % emu.base_url)
    assert "the engine died behind a live HTTP server" in result["msg"]
    assert result["health_status"] == 503


FAKE_SYSTEMCTL = """\
#!{python}
# TEST DOUBLE for systemctl, written by this file into fake-systemd-bin.
# Answers for the emulator process whose pid is in FAKE_SYSTEMD_PID: active while it runs, failed once
# it has exited (a zombie counts as exited). Every call is appended to FAKE_SYSTEMD_CALLS.
import os, sys
with open(os.environ["FAKE_SYSTEMD_CALLS"], "a") as calls:
    calls.write("systemctl " + " ".join(sys.argv[1:]) + "\\n")
try:
    with open("/proc/%s/stat" % os.environ["FAKE_SYSTEMD_PID"]) as handle:
        alive = handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
except OSError:
    alive = False
if sys.argv[1:2] == ["is-active"]:
    print("active" if alive else "failed")
    sys.exit(0 if alive else 3)
sys.exit(1)
"""

FAKE_JOURNALCTL = """\
#!{python}
# TEST DOUBLE for journalctl, written by this file into fake-systemd-bin.
# `journalctl -u UNIT -n N --no-pager` prints the last N lines of the emulator's log (FAKE_SYSTEMD_LOG).
import os, sys
with open(os.environ["FAKE_SYSTEMD_CALLS"], "a") as calls:
    calls.write("journalctl " + " ".join(sys.argv[1:]) + "\\n")
n = int(sys.argv[sys.argv.index("-n") + 1])
with open(os.environ["FAKE_SYSTEMD_LOG"]) as log:
    sys.stdout.write("".join(log.readlines()[-n:]))
"""


@pytest.fixture
def fake_systemd(tmp_path, monkeypatch):
    """Put the systemctl/journalctl TEST DOUBLES first on PATH; returns a function that binds them to an emulator."""
    bindir = tmp_path / "fake-systemd-bin"
    bindir.mkdir()
    for name, text in (("systemctl", FAKE_SYSTEMCTL), ("journalctl", FAKE_JOURNALCTL)):
        path = bindir / name
        path.write_text(text.format(python=sys.executable))
        path.chmod(0o755)
    calls = tmp_path / "fake-systemd-calls.txt"
    calls.write_text("")
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_SYSTEMD_CALLS", str(calls))

    def bind(emu):
        monkeypatch.setenv("FAKE_SYSTEMD_PID", str(emu.proc.pid))
        monkeypatch.setenv("FAKE_SYSTEMD_LOG", str(emu.log_path))
        return calls

    return bind


def test_an_engine_that_exits_during_load_fails_fast_with_the_journal(emulator, fake_systemd):
    emu = emulator(env={"EMULATOR_LOAD_SECONDS": "0.8", "EMULATOR_FAULT_EXIT_DURING_LOAD": "1"}, wait=False)
    calls = fake_systemd(emu)
    exited = []

    def watch():  # when the engine really exited, to time how soon the module noticed
        while not proc_exited(emu.proc.pid):
            time.sleep(0.01)
        exited.append(time.time())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    result = run_module(
        openai_verify, args(emu, timeout=600, poll_interval=0.2, unit="llmfleet-deepseek.service"), expect_failure=True
    )
    elapsed = time.monotonic() - started
    watcher.join(5)
    assert elapsed < 10, "failed after %.1f s: should be within seconds, not at the 600 s timeout" % elapsed
    assert exited and 0 <= result["failed_at"] - exited[0] < 1.5
    assert result["msg"].startswith("systemd unit llmfleet-deepseek.service is failed after ")
    assert (
        "the engine exited with an error. Last 30 lines of journalctl -u llmfleet-deepseek.service:\n" in result["msg"]
    )
    assert "EngineCore failed to start." in result["msg"]
    assert "(emulated fault EMULATOR_FAULT_EXIT_DURING_LOAD)" in result["msg"]
    assert result["unit_state"] == "failed" and result["failed_check"] == "readiness"
    assert any("Loading model deepseek-ai/DeepSeek-V4-Flash" in line for line in result["journal"])
    assert "journalctl -u llmfleet-deepseek.service -n 30 --no-pager" in calls.read_text().splitlines()


def test_a_unit_that_is_not_running_fails_at_the_first_poll(emulator, fake_systemd):
    emu = emulator(env={"EMULATOR_FAULT_NEVER_READY": "1"}, wait=False)
    emu.proc.terminate()
    emu.proc.wait()
    fake_systemd(emu)
    started = time.monotonic()
    result = run_module(openai_verify, args(emu, timeout=600, unit="llmfleet-deepseek.service"), expect_failure=True)
    assert time.monotonic() - started < 5
    assert "systemd unit llmfleet-deepseek.service is failed after 0.0 s" in result["msg"]
