# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate plugins/module_utils/_engine_flags.py: every flag of `vllm serve` and of SGLang's server.

The planner refuses an extra_args flag the engine's parser lacks (the engine would exit at start
and a running server would be replaced by a crash loop). The catalog is read from each engine's OWN
argument parser, never typed by hand:

- vLLM: the parser `vllm serve` builds (vllm.entrypoints.cli.serve.ServeSubcommand.subparser_init,
  which calls make_arg_parser on a FlexibleArgumentParser).
- SGLang: sglang.srt.server_args.ServerArgs.add_cli_args on a plain argparse parser, as
  prepare_server_args (behind `python3 -m sglang.launch_server`) does.

Both engines are installed into a scratch virtual environment outside the project's .venv
(default .build/flags-venv), without CUDA: vLLM as benchmarks/setup_vllm_venv.sh installs it
(CPU torch, vllm --no-deps and the packages its modules import), SGLang with --no-deps plus the
modules sglang.srt.server_args imports (orjson, triton, IPython). Nothing is stubbed.

    python3 extensions/engine-flags/generate.py                 # set up the venv, write the catalog
    VLLM_VERSION=0.33.0 SGLANG_VERSION=0.5.23 python3 extensions/engine-flags/generate.py [VENV]

Inside the venv the script runs itself with --dump ENGINE and prints the parser as JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "plugins" / "module_utils" / "_engine_flags.py"
VLLM_VERSION = os.environ.get("VLLM_VERSION", "0.33.0")
SGLANG_VERSION = os.environ.get("SGLANG_VERSION", "0.5.23")
# What importing sglang.srt.server_args needs beyond vLLM's set (found by importing it).
SGLANG_IMPORTS = ["orjson", "triton", "IPython"]
# What importing vllm.entrypoints.cli.serve needs beyond benchmarks/setup_vllm_venv.sh's set.
VLLM_SERVE_IMPORTS = ["uvicorn", "watchfiles"]


def _parser_data(parser):
    flags = {}
    # What argparse looks an option string up in (no public API has it): every accepted spelling,
    # including those vLLM registers but hides from --help and action.option_strings (--no-disable-x).
    for option, action in parser._option_string_actions.items():
        # nargs 0: store_true/false, BooleanOptionalAction (and vLLM's --enable/--disable pairs), help.
        flags[option] = action.nargs != 0
    return {"flags": dict(sorted(flags.items())), "allow_abbrev": bool(parser.allow_abbrev)}


def dump(engine):
    """Run inside the venv: print {"version", "flags", "allow_abbrev"} of ``engine``'s server parser."""
    from importlib.metadata import version

    if engine == "vllm":
        # vLLM picks a platform at import; no GPU here, and the flags do not depend on it.
        os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
        from vllm.entrypoints.cli.serve import ServeSubcommand
        from vllm.utils.argparse_utils import FlexibleArgumentParser

        top = FlexibleArgumentParser(prog="vllm")
        parser = ServeSubcommand().subparser_init(top.add_subparsers())
    else:
        import argparse

        from sglang.srt.server_args import ServerArgs

        parser = argparse.ArgumentParser(prog="sglang serve")
        ServerArgs.add_cli_args(parser)
    data = _parser_data(parser)
    data["version"] = version(engine)
    print("LLMFLEET-FLAGS " + json.dumps(data))


def _setup(venv):
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    env = dict(os.environ, VLLM_VERSION=VLLM_VERSION)
    subprocess.run(["bash", str(ROOT / "benchmarks" / "setup_vllm_venv.sh"), str(venv)], check=True, env=env)
    subprocess.run(pip + VLLM_SERVE_IMPORTS, check=True)
    subprocess.run(pip + ["--no-deps", "sglang==%s" % SGLANG_VERSION], check=True)
    subprocess.run(pip + SGLANG_IMPORTS, check=True)


def _run_dump(venv, engine):
    out = subprocess.run(
        [str(venv / "bin" / "python"), __file__, "--dump", engine], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    line = [x for x in out.splitlines() if x.startswith("LLMFLEET-FLAGS ")][-1]
    return json.loads(line[len("LLMFLEET-FLAGS ") :])


def _literal(data):
    """A Python literal of ``data`` (str keys, bool/str/dict values), one key a line, as pep8 wants it."""
    text = json.dumps(data, indent=4, sort_keys=True)
    return re.sub(r": (true|false)(,?)$", lambda m: ": %s%s" % (m.group(1).title(), m.group(2)), text, flags=re.M)


def write(catalogs):
    flags = {engine: {data["version"]: data["flags"]} for engine, data in catalogs.items()}
    options = {
        engine: {
            data["version"]: {
                "allow_abbrev": data["allow_abbrev"],
                # FlexibleArgumentParser: '--a_b' is '--a-b', and '--json-flag.key value' sets one key.
                "underscores_are_dashes": engine == "vllm",
                "dotted_keys": engine == "vllm",
            }
        }
        for engine, data in catalogs.items()
    }
    text = '''# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# GENERATED by extensions/engine-flags/generate.py - do not edit by hand; regenerate with
#   VLLM_VERSION=%(vllm)s SGLANG_VERSION=%(sglang)s python3 extensions/engine-flags/generate.py
# from vLLM %(vllm)s's `vllm serve` parser and SGLang %(sglang)s's ServerArgs.add_cli_args parser.
"""The flags each engine's server parser accepts: engine -> version -> {flag: takes a value}.

Data only (standard library, shipped to hosts with serving_plan). PARSER_OPTIONS says how the
parser reads a flag: argparse prefix abbreviations, vLLM's '_'/'-' equivalence and dotted keys.
"""

from __future__ import annotations

ENGINE_FLAGS = %(flags)s

PARSER_OPTIONS = %(options)s
''' % {
        "vllm": catalogs["vllm"]["version"],
        "sglang": catalogs["sglang"]["version"],
        "flags": _literal(flags),
        "options": _literal(options),
    }
    OUTPUT.write_text(text)
    for engine, data in sorted(catalogs.items()):
        print("%s %s: %d flags" % (engine, data["version"], len(data["flags"])))
    print("wrote", OUTPUT.relative_to(ROOT))


def main(argv):
    if len(argv) == 2 and argv[0] == "--dump":
        dump(argv[1])
        return
    venv = Path(argv[0]) if argv else ROOT / ".build" / "flags-venv"
    if not venv.is_absolute():
        venv = ROOT / venv
    if os.environ.get("SKIP_SETUP") != "1":
        _setup(venv)
    catalogs = {engine: _run_dump(venv, engine) for engine in ("vllm", "sglang")}
    if catalogs["vllm"]["version"] != VLLM_VERSION or catalogs["sglang"]["version"] != SGLANG_VERSION:
        sys.exit(
            "installed versions %s differ from the requested vLLM %s / SGLang %s"
            % ({e: d["version"] for e, d in catalogs.items()}, VLLM_VERSION, SGLANG_VERSION)
        )
    write(catalogs)


if __name__ == "__main__":
    main(sys.argv[1:])
