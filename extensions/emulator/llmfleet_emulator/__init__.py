"""llmfleet engine emulator: an OpenAI/Anthropic-compatible server that starts and behaves like
vLLM (`vllm serve ...`) or SGLang (`python3 -m sglang.launch_server ...`) from the outside, with an
explicit, seeded timing model. See extensions/emulator/README.md.

Image shims call :func:`main_vllm` / :func:`main_sglang` with the arguments after the program
name; both return the process exit code (argparse errors raise SystemExit(2), as the engines do).
"""

from __future__ import annotations

__version__ = "0.1.0"


def main_vllm(argv=None):
    """`vllm ARGS` (argv starts with ``serve``)."""
    import sys

    from . import cli_vllm, launcher

    argv = list(sys.argv[1:] if argv is None else argv)
    return launcher.run(cli_vllm.parse(argv))


def main_sglang(argv=None):
    """`python3 -m sglang.launch_server ARGS`."""
    import sys

    from . import cli_sglang, launcher

    argv = list(sys.argv[1:] if argv is None else argv)
    return launcher.run(cli_sglang.parse(argv))


__all__ = ["main_vllm", "main_sglang", "__version__"]
