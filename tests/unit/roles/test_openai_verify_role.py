"""The llmfleet.serving.verify role through playbooks/verify.yml, run by ansible-playbook on this machine
(connection local) against the REAL engine emulator. Slower than the module tests (one ansible-playbook
start each), so only what the role adds: the plan-derived endpoint, the printed client settings, the
llmfleet_verify fact, a failure that names the host, and the key kept out of the whole output.
"""

import pytest
from helpers.playbook import task_result
from helpers.verify_server import KEY, MASKED, SEED_VLLM, run_verify, start_emulator

pytestmark = pytest.mark.slow


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
    assert table[0].split()[:5] == ["Host", "Verify", "Endpoint", "Auth", "Model"]
    assert table[2].split() == [
        "node1",
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
    failure = task_result(out, "Fail when the endpoint")
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
