"""The emulator as openai_verify's tests (module and role) run it, on the one harness (emulator_harness).

0.2 s of "loading", 100x emulated time, the log kept in the test's tmp_path (tests read it).
"""

import sys

from emulator_harness import Emulator

from helpers.playbook import run_playbook

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


def run_verify(tmp_path, emu, host_vars, *extra):
    """playbooks/verify.yml on one local host whose plan points at ``emu``; ``host_vars`` override the plan's."""
    inventory = {
        "all": {
            "children": {
                "llmfleet_serving": {
                    "hosts": {
                        "node1": dict(
                            {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": sys.executable,
                                # What the serve role leaves behind: the plan (only the parts verify reads).
                                "llmfleet_plan": {
                                    "port": emu.port,
                                    "served_model_name": "deepseek",
                                    "readiness": {"timeout_s": 30},
                                },
                                # ... and whether it was deployed with a key (the table's Auth column; never the key).
                                "llmfleet_serve": {"api_key_required": bool(host_vars.get("serve_api_key"))},
                                "verify_poll_interval": 0.2,
                                "verify_client_host": "10.1.2.3",
                            },
                            **host_vars,
                        )
                    }
                }
            }
        }
    }
    return run_playbook("playbooks/verify.yml", inventory, "-v", *extra, workdir=tmp_path)
