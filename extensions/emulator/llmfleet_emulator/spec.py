"""What the engine's command line asked for, in one engine-neutral record."""

from __future__ import annotations

import dataclasses

# Context length when the command line does not set one: DeepSeek-V4's native 1M window for V4
# models, 128K otherwise (what `--max-model-len auto` resolves to for those models).
V4_CONTEXT = 1_048_576
DEFAULT_CONTEXT = 131_072


# Parsed flags never shown (in /server_info or logs): they carry secrets.
SECRET_ARGS = frozenset(["api_key", "hf_token", "admin_api_key", "ssl_keyfile_password"])


def engine_env(environ):
    """The engines' own non-secret settings (VLLM_*, SGLANG_*), which can hint at the hardware."""
    return {
        k: v for k, v in environ.items() if k.startswith(("VLLM_", "SGLANG_")) and "KEY" not in k and "TOKEN" not in k
    }


def default_context(model):
    return V4_CONTEXT if "v4" in model.lower() else DEFAULT_CONTEXT


@dataclasses.dataclass
class ServerSpec:
    engine: str  # vllm | sglang
    version: str  # the engine version the emulator claims
    model: str
    served_names: list
    host: str
    port: int
    api_keys: list
    tensor_parallel_size: int = 1
    reasoning_parser: str = ""
    tool_call_parser: str = ""
    auto_tool_choice: bool = False
    spec_method: str = ""
    spec_tokens: int = 1  # most tokens one decode step yields (1 = no speculative decoding)
    max_model_len: int = DEFAULT_CONTEXT
    max_batch: int = 0  # --max-num-seqs / --max-running-requests; 0 = the preset's
    moe_backend: str = ""
    enable_metrics: bool = True
    env: dict = dataclasses.field(default_factory=dict)
    args: dict = dataclasses.field(default_factory=dict)  # every parsed flag, for /server_info

    @property
    def served_name(self):
        return self.served_names[0]
