"""Command-line parity and start-up behaviour of the emulator, as a process seen from outside."""

import os
import signal
import socket
import tempfile
import time

import pytest
from emulator_harness import (
    SEED_B200_SGLANG,
    SEED_B200_VLLM,
    SEED_H100_ENV,
    SEED_H100_SGLANG,
    Emulator,
    free_port,
    port_open,
    run_cli,
)
from llmfleet_emulator import cli_sglang, cli_vllm
from llmfleet_emulator.presets import resolve


@pytest.mark.parametrize(
    "argv, usage, complaint",
    [
        (
            ["vllm", "serve", "--model", "m", "--bogus-flag"],
            "usage: vllm serve",
            "unrecognized arguments: --bogus-flag",
        ),
        (
            ["vllm", "serve", "--model", "m", "--tensor-parallel-size", "four"],
            "usage: vllm serve",
            "argument --tensor-parallel-size/-tp: invalid int value: 'four'",
        ),
        (
            ["vllm", "serve", "--model", "m", "--kv-cache-dtype", "fp7"],
            "usage: vllm serve",
            "argument --kv-cache-dtype: invalid choice: 'fp7'",
        ),
        (
            ["vllm", "serve", "--model", "m", "--speculative-config", "{not json"],
            "usage: vllm serve",
            "argument --speculative-config",
        ),
        (["vllm", "serve", "--model", "m", "--max-model-len", "lots"], "usage: vllm serve", "--max-model-len"),
        (["vllm", "serve", "--model", "m", "--workers", "2"], "usage: vllm serve", "unrecognized arguments: --workers"),
        (["vllm", "bench", "serve"], "usage: vllm", "invalid choice: 'bench'"),
        (
            ["sglang", "--model-path", "m", "--mem-fraction-static", "high"],
            "usage: launch_server.py",
            "argument --mem-fraction-static: invalid float value: 'high'",
        ),
        (
            ["sglang", "--model-path", "m", "--speculative-algo", "MEDUSA"],
            "usage: launch_server.py",
            "argument --speculative-algorithm: invalid choice: 'MEDUSA'",
        ),
        (
            ["sglang", "--model-path", "m", "--enable-metrics=yes"],
            "usage: launch_server.py",
            "ignored explicit argument",
        ),
        (["sglang", "--tp", "4"], "usage: launch_server.py", "the following arguments are required: --model-path"),
    ],
)
def test_bad_flags_exit_2_with_usage(argv, usage, complaint):
    result = run_cli(argv)
    assert result.returncode == 2, result.stderr
    assert usage in result.stderr
    assert complaint in result.stderr


def test_seed_commands_parse_and_choose_the_calibrated_presets():
    b200 = cli_sglang.parse(SEED_B200_SGLANG[1:], {})
    h100 = cli_sglang.parse(SEED_H100_SGLANG[1:], dict(SEED_H100_ENV))
    vllm = cli_vllm.parse(SEED_B200_VLLM[1:], {})
    assert (b200.spec_tokens, b200.tensor_parallel_size, b200.served_name) == (4, 4, "deepseek")
    assert resolve(b200, {})[0].name == "b200-sglang-eagle"
    assert resolve(h100, {})[0].name == "h100-sglang-eagle"
    assert resolve(vllm, {})[0].name == "b200-vllm"
    assert vllm.max_model_len == 1048576  # --max-model-len auto on a V4 model
    assert vllm.auto_tool_choice and vllm.reasoning_parser == "deepseek_v4"


def test_vllm_recipe_flags_underscores_dotted_json_and_positional_model():
    spec = cli_vllm.parse(
        [
            "serve",
            "deepseek-ai/DeepSeek-V4-Flash",
            "--speculative_config",
            '{"method":"mtp","num_speculative_tokens":2}',
            "--attention_config.use_fp4_indexer_cache=True",
            "--moe-backend",
            "deep_gemm_mega_moe",
            "--data-parallel-size",
            "2",
            "--data-parallel-rpc-port",
            "13345",
            "--headless",
            "-tp",
            "4",
            "--max-model-len",
            "32k",
        ],
        {},
    )
    assert spec.model == "deepseek-ai/DeepSeek-V4-Flash"
    assert spec.served_names == ["deepseek-ai/DeepSeek-V4-Flash"]
    assert spec.spec_tokens == 3 and spec.spec_method == "mtp"
    assert spec.args["attention_config"] == {"use_fp4_indexer_cache": True}
    assert spec.max_model_len == 32000
    params = resolve(spec, {})[0]
    assert params.name == "b200-vllm-mtp" and params.spec_tokens == 3


def test_preset_env_override_and_bad_preset():
    spec = cli_vllm.parse(["serve", "--model", "m"], {})
    params, reason = resolve(spec, {"EMULATOR_PRESET": "h100-sglang-eagle", "EMULATOR_PREFILL_TOKENS_PER_S": "5000"})
    assert params.name == "h100-sglang-eagle" and params.prefill_tokens_per_s == 5000.0
    assert "EMULATOR_PREFILL_TOKENS_PER_S=5000" in reason
    result = run_cli(["vllm", "serve", "--model", "m"], env={"EMULATOR_PRESET": "turbo"})
    assert result.returncode == 2
    assert "EMULATOR_PRESET='turbo' is not a preset" in result.stderr


def test_port_stays_closed_while_loading_then_opens():
    emu = Emulator(["vllm", "serve", "--model", "m", "--host", "127.0.0.1"], load_seconds="1.5", wait=False)
    try:
        time.sleep(0.8)
        assert emu.proc.poll() is None
        assert not port_open(emu.port), "the port must stay closed while the model loads"
        emu.wait_ready(timeout=10)
        assert time.monotonic() - emu.started >= 1.5
        deadline = time.monotonic() + 5
        while "Application startup complete." not in emu.log():  # logged just after binding
            assert time.monotonic() < deadline
            time.sleep(0.05)
        log = emu.log()
        assert log.index("Loading weights took") < log.index("Application startup complete.")
        assert emu.get("/health")[0] == 200
    finally:
        emu.stop()


def test_sglang_reports_ready_and_health_503_during_warmup():
    emu = Emulator(SEED_B200_SGLANG, env={"EMULATOR_WARMUP_SECONDS": "1.0", "EMULATOR_PRESET": "fast"})
    try:
        assert emu.get("/health")[0] == 503
        deadline = time.monotonic() + 5
        while emu.get("/health")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert "The server is fired up and ready to roll!" in emu.log()
    finally:
        emu.stop()


@pytest.mark.parametrize(
    "argv, env, preset",
    [
        (SEED_B200_SGLANG, {}, "b200-sglang-eagle"),
        (SEED_H100_SGLANG, SEED_H100_ENV, "h100-sglang-eagle"),
        (SEED_B200_VLLM, {}, "b200-vllm"),
    ],
)
def test_running_emulator_names_its_preset(argv, env, preset):
    emu = Emulator(argv, env=env)
    try:
        status, _hdrs, body = emu.get("/version")
        assert status == 200
        assert body["emulator"]["preset"] == preset
        assert "preset %s" % preset in emu.log()
        if argv[0] == "sglang":
            assert emu.get("/server_info")[2]["emulator"]["preset"] == preset
            assert emu.get("/server_info")[2]["speculative_algorithm"] == "EAGLE"
    finally:
        emu.stop()


def test_hf_token_file_missing_fails_like_a_hub_auth_error():
    result = run_cli(
        ["vllm", "serve", "--model", "m", "--port", str(free_port())], env={"HF_TOKEN_PATH": "/nonexistent/hf_token"}
    )
    assert result.returncode == 1
    assert "HF_TOKEN_PATH=/nonexistent/hf_token" in result.stderr


def test_hf_token_file_is_read_and_never_shown():
    with tempfile.NamedTemporaryFile("w", delete=False) as fh:
        fh.write("hf_SECRETVALUE123\n")
    emu = Emulator(["vllm", "serve", "--model", "m"], env={"HF_TOKEN_PATH": fh.name})
    try:
        assert emu.get("/version")[2]["emulator"]["hf_token_from_file"] is True
        assert "hf_SECRETVALUE123" not in emu.log()
    finally:
        emu.stop()
        os.unlink(fh.name)


def test_api_key_never_logged():
    emu = Emulator(["sglang", "--model-path", "m", "--api-key", "sk-VERYSECRET"])
    try:
        assert "sk-VERYSECRET" not in emu.log()
        assert "sk-VERYSECRET" not in str(emu.get("/server_info", headers={"Authorization": "Bearer sk-VERYSECRET"}))
    finally:
        emu.stop()


def test_fault_exit_during_load():
    port = free_port()
    result = run_cli(
        ["vllm", "serve", "--model", "m", "--port", str(port)], env={"EMULATOR_FAULT_EXIT_DURING_LOAD": "1"}
    )
    assert result.returncode == 1
    assert "EngineCore failed to start" in result.stderr
    assert "Application startup complete" not in result.stderr


def test_fault_never_ready_keeps_the_port_closed():
    emu = Emulator(
        ["vllm", "serve", "--model", "m"], env={"EMULATOR_FAULT_NEVER_READY": "1"}, load_seconds="0.2", wait=False
    )
    try:
        time.sleep(1.5)
        assert emu.proc.poll() is None
        assert not port_open(emu.port)
        assert "still loading" in emu.log()
    finally:
        emu.stop()


def test_sigterm_exits_cleanly():
    emu = Emulator(["vllm", "serve", "--model", "m"])
    emu.proc.send_signal(signal.SIGTERM)
    assert emu.proc.wait(timeout=10) == 0
    emu.stop()


def test_two_workers_share_the_port():
    emu = Emulator(["--workers", "2", "vllm", "serve", "--model", "m"], env={"EMULATOR_PRESET": "fast"})
    try:
        time.sleep(0.3)  # both children bind
        seen = set()
        for _i in range(60):  # each urllib request is a new connection: the kernel spreads them
            seen.add(emu.get("/version")[2]["emulator"]["worker"])
            if len(seen) == 2:
                break
        assert seen == {0, 1}
        assert emu.get("/version")[2]["emulator"]["workers"] == 2
    finally:
        emu.stop()


def test_bind_failure_is_reported():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(["vllm", "serve", "--model", "m", "--host", "127.0.0.1", "--port", str(port)])
    assert result.returncode == 1
    assert "error while attempting to bind" in result.stderr


def test_sigterm_while_loading_exits():
    emu = Emulator(["vllm", "serve", "--model", "m"], load_seconds="30", wait=False)
    try:
        time.sleep(0.8)
        emu.proc.send_signal(signal.SIGTERM)
        assert emu.proc.wait(timeout=5) == 0
        assert not port_open(emu.port)
    finally:
        emu.stop()
