"""The emulator as openai_verify's tests (module and role) run it, on the one harness (emulator_harness).

0.2 s of "loading", 100x emulated time, the log kept in the test's tmp_path (tests read it).
"""

from pathlib import Path

from emulator_harness import Emulator

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-llmfleet-test-0123456789abcdef"
MASKED = "sk-\u2026cdef"
# The seed guide's vLLM command (B200), as the emulator takes it, without --host/--port.
SEED_VLLM = [
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
    "--tool-call-parser",
    "deepseek_v4",
    "--enable-auto-tool-choice",
    "--reasoning-parser",
    "deepseek_v4",
]
PLAIN_VLLM = ["vllm", "serve", "--model", "deepseek-ai/DeepSeek-V4-Flash", "--served-model-name", "deepseek"]


def start_emulator(tmp_path, argv, env=None, wait=True):
    full_env = {"EMULATOR_TIME_SCALE": "100"}
    full_env.update(env or {})
    return Emulator(argv, env=full_env, wait=wait, load_seconds="0.2", log_dir=tmp_path)
