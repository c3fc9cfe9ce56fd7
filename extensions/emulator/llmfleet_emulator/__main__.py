"""`python3 -m llmfleet_emulator [WRAPPER OPTIONS] {vllm,sglang} ENGINE ARGS`.

Wrapper options (before the engine word; the real engines have no such flags) set the
matching EMULATOR_* variables: --workers, --preset, --time-scale, --load-seconds, --seed,
--trace-file.
"""

from __future__ import annotations

import argparse
import sys

from . import main_sglang, main_vllm

ENGINES = {"vllm": main_vllm, "sglang": main_sglang}
_OPTIONS = {
    "workers": "EMULATOR_WORKERS",
    "preset": "EMULATOR_PRESET",
    "time_scale": "EMULATOR_TIME_SCALE",
    "load_seconds": "EMULATOR_LOAD_SECONDS",
    "seed": "EMULATOR_SEED",
    "trace_file": "EMULATOR_TRACE_FILE",
}


def wrapper_parser():
    parser = argparse.ArgumentParser(
        prog="python3 -m llmfleet_emulator",
        allow_abbrev=False,
        usage="%(prog)s [--workers N] [--preset NAME] [--time-scale X] [--load-seconds S] [--seed N] "
        "[--trace-file PATH] {vllm,sglang} ENGINE_ARGS...",
        description="Start the llmfleet engine emulator with a real engine's command line: "
        "`vllm serve ...` or `sglang ...` (the arguments of python3 -m sglang.launch_server).",
    )
    parser.add_argument("--workers", type=int, help="server processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--preset", help="timing preset (default auto: chosen from the engine command line)")
    parser.add_argument("--time-scale", type=float, help="run the timing model this many times faster")
    parser.add_argument("--load-seconds", type=float, help="seconds the port stays closed while loading")
    parser.add_argument("--seed", type=int, help="seed of every random choice")
    parser.add_argument("--trace-file", help="append one JSON line per request (ground truth)")
    parser.add_argument("engine", choices=sorted(ENGINES))
    return parser


def main(argv=None):
    import os

    argv = list(sys.argv[1:] if argv is None else argv)
    split = next((i for i, a in enumerate(argv) if a in ENGINES), len(argv))
    parser = wrapper_parser()
    opts = parser.parse_args(argv[: split + 1])
    if opts.workers is not None and opts.workers < 1:
        parser.error("argument --workers: must be at least 1")
    for field, var in _OPTIONS.items():
        value = getattr(opts, field)
        if value is not None:
            os.environ[var] = str(value)
    return ENGINES[opts.engine](argv[split + 1 :])


if __name__ == "__main__":
    sys.exit(main())
