"""The llmfleet.serving.verify role through playbooks/verify.yml, run by ansible-playbook on this machine
(connection local) against the REAL engine emulator. Slower than the module tests (one ansible-playbook
start each), so only what the role adds: the plan-derived endpoint, the printed client settings, the
llmfleet_verify fact, a failure that names the host, and the key kept out of the whole output.
"""

import socket

import pytest
from helpers.playbook import task_result
from helpers.verify_server import KEY, MASKED, SEED_VLLM, run_verify, start_emulator

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_role_verifies_the_planned_endpoint_and_prints_client_settings(tmp_path):
    emu = start_emulator(tmp_path, SEED_VLLM, {"VLLM_API_KEY": KEY})
    try:
        proc, out = run_verify(
            tmp_path,
            emu,
            {"serve_api_key": KEY, "verify_checks": ["health", "models", "chat_stream", "auth", "anthropic"]},
        )
    finally:
        emu.stop()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    verify = task_result(out, "Wait for the server")
    assert verify["base_url"] == "http://127.0.0.1:%d" % emu.port  # on the host itself, from plan.port
    fact = task_result(out, "Record the outcome")["ansible_facts"]["llmfleet_verify"]
    assert fact["passed"] is True and fact["result"] == "passed 5/5"
    assert fact["openai_base_url"] == "http://10.1.2.3:%d/v1" % emu.port
    settings = task_result(out, "Show the client settings")["msg"]
    assert settings == [
        "OpenAI-compatible clients (model deepseek):",
        '  export OPENAI_BASE_URL="http://10.1.2.3:%d/v1"' % emu.port,
        '  export OPENAI_API_KEY="%s"   # masked: put the server key here' % MASKED,
        "Claude Code (the seed guide block):",
        '  export ANTHROPIC_BASE_URL="http://10.1.2.3:%d"' % emu.port,
        '  export ANTHROPIC_AUTH_TOKEN="%s"   # masked: put the server key here; Claude Code sends it as '
        'Authorization: Bearer, the header vLLM and SGLang check' % MASKED,
        '  export ANTHROPIC_MODEL="deepseek"',
        '  export ANTHROPIC_DEFAULT_SONNET_MODEL="deepseek"',
        '  export ANTHROPIC_DEFAULT_OPUS_MODEL="deepseek"',
        '  export ANTHROPIC_DEFAULT_HAIKU_MODEL="deepseek"',
        '  export ANTHROPIC_SMALL_FAST_MODEL="deepseek"',
        '  export ANTHROPIC_FAST_MODEL="deepseek"',
        "  export DISABLE_TELEMETRY=1",
        "  export ENABLE_PROMPT_CACHING_1H=1",
        "  claude",
    ]
    table = task_result(out, "Fleet verify summary", play=1)["msg"]
    assert table[0].split()[:6] == ["Host", "Instance", "Verify", "Endpoint", "Auth", "Model"]
    assert table[2].split() == [
        "node1",
        "-",
        "passed",
        "5/5",
        "http://10.1.2.3:%d/v1" % emu.port,
        "key",
        "deepseek",
        table[2].split()[-1],
    ]
    assert KEY not in proc.stdout and KEY not in proc.stderr


def test_a_failing_endpoint_fails_the_host_with_the_reason_and_records_it(tmp_path):
    emu = start_emulator(
        tmp_path, ["vllm", "serve", "--model", "deepseek-ai/DeepSeek-V4-Flash", "--served-model-name", "other"]
    )
    try:
        proc, out = run_verify(tmp_path, emu, {})
    finally:
        emu.stop()
    assert proc.returncode == 2
    fact = task_result(out, "Record the outcome")["ansible_facts"]["llmfleet_verify"]
    assert (fact["passed"], fact["result"], fact["failed_check"]) == (False, "FAILED: models", "models")
    failure = task_result(out, "Fail when an endpoint")
    assert failure["failed"] is True
    assert failure["msg"] == (
        "node1: models check failed: /v1/models lists ['other'] but served_model_name is 'deepseek': the server "
        "serves another model; check serve_served_model_name or the base_url"
    )


def test_no_plan_and_no_variables_is_a_clear_error(tmp_path):
    emu = start_emulator(tmp_path, ["vllm", "serve", "--model", "m", "--served-model-name", "deepseek"])
    try:
        proc, out = run_verify(tmp_path, emu, {"llmfleet_plan": {}, "verify_fact_dir": str(tmp_path / "no-facts")})
    finally:
        emu.stop()
    assert proc.returncode == 2
    failure = task_result(out, "Check that there is an endpoint")
    assert failure["msg"].startswith("node1 has no serving plan (llmfleet_plan, or ansible_local.llmfleet_plan in ")
    assert "deploy with the llmfleet.serving.serve role first, or set both variables." in failure["msg"]


def test_every_endpoint_of_a_host_is_verified_and_a_failed_replica_is_named(tmp_path):
    # A host with two packed replicas (llmfleet_plans, as the serve role leaves it): the first answers, the
    # second's port is closed. Both are tried; the host fails naming the second only.
    emu = start_emulator(tmp_path, ["vllm", "serve", "--model", "m", "--served-model-name", "deepseek"])
    closed = free_port()
    replica = {"served_model_name": "deepseek", "readiness": {"timeout_s": 2}}
    try:
        proc, out = run_verify(
            tmp_path,
            emu,
            {
                "llmfleet_plans": {
                    "replica-0": dict(replica, port=emu.port, serves_http=True),
                    "replica-1": dict(replica, port=closed, serves_http=True),
                    "worker": dict(replica, port=closed + 1, serves_http=False),
                },
                "verify_client_port": 18001,
            },
        )
    finally:
        emu.stop()
    assert proc.returncode == 2
    endpoints = task_result(out, "Record the outcome")["ansible_facts"]["llmfleet_verify"]
    assert endpoints["passed"] is True and endpoints["base_url"] == "http://127.0.0.1:%d" % emu.port
    failure = task_result(out, "Fail when an endpoint")
    assert failure["msg"].startswith("node1: 1 of 2 endpoints failed: http://127.0.0.1:%d: " % closed)
    assert str(closed + 1) not in failure["msg"]  # the cell worker serves no endpoint: not verified
    # Both outcomes are kept; the client port stands for the first endpoint and the second replica is printed
    # at its offset from it.
    records = [
        t["hosts"]["node1"]["ansible_facts"]["llmfleet_verify_endpoints"]
        for t in out["plays"][0]["tasks"]
        if t["task"]["name"].endswith("Record this endpoint's outcome")
    ][-1]
    assert [(r["passed"], r["openai_base_url"]) for r in records] == [
        (True, "http://10.1.2.3:18001/v1"),
        (False, "http://10.1.2.3:%d/v1" % (18001 + closed - emu.port)),
    ]


def test_a_cell_worker_host_is_not_verified_itself(tmp_path):
    # Only a worker rank on this host (serves_http false): no endpoint to check; the head stands for the cell.
    emu = start_emulator(tmp_path, ["vllm", "serve", "--model", "m", "--served-model-name", "deepseek"])
    worker = {"served_model_name": "deepseek", "readiness": {"timeout_s": 2}, "serves_http": False}
    try:
        proc, out = run_verify(tmp_path, emu, {"llmfleet_plans": {"worker": dict(worker, port=emu.port)}})
    finally:
        emu.stop()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "serves no endpoint" in task_result(out, "Say that a cell worker")["msg"]
    assert not [t for t in out["plays"][0]["tasks"] if "Wait for the server" in t["task"]["name"]]
