"""The engines' flag catalog (plugins/module_utils/_engine_flags.py), for command-line parity.

The planner lets through every extra_args flag the catalog holds; the stand-in must then start
with it too, instead of refusing a flag the real engine accepts. The emulator's own parsers
define the flags it acts on (types, choices, defaults); :func:`add_catalog_flags` adds every
other catalog flag as accepted-and-ignored, so an unknown flag still exits 2 as the engine does.

Where the catalog is found:
- in the engine stand-in image, as ``ansible_collections.llmfleet.serving.plugins.module_utils.
  _engine_flags`` under /opt/emulator (extensions/testbed/build-images.sh copies it there);
- in the repository, by its path beside this package (../../../plugins/module_utils).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
from pathlib import Path

_REPO_COPY = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "_engine_flags.py"


def _load():
    try:
        from ansible_collections.llmfleet.serving.plugins.module_utils import _engine_flags

        return _engine_flags
    except ImportError:
        pass
    if not _REPO_COPY.is_file():
        raise RuntimeError(
            "llmfleet emulator: the engine flag catalog is missing (looked for the module "
            "ansible_collections.llmfleet.serving.plugins.module_utils._engine_flags and %s)" % _REPO_COPY
        )
    spec = importlib.util.spec_from_file_location("llmfleet_engine_flags", _REPO_COPY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def catalog(engine):
    """({flag: takes a value} over every catalogued version of ``engine``, allow_abbrev)."""
    data = _load()
    flags = {}
    abbrev = False
    for version in sorted(data.ENGINE_FLAGS.get(engine, {})):
        flags.update(data.ENGINE_FLAGS[engine][version])
        abbrev = abbrev or data.PARSER_OPTIONS.get(engine, {}).get(version, {}).get("allow_abbrev", False)
    return flags, abbrev


@functools.cache
def value_flags(engine):
    """The catalog flags of ``engine`` that take a value."""
    return frozenset(flag for flag, takes in catalog(engine)[0].items() if takes)


def add_catalog_flags(parser, engine):
    """Add to ``parser`` every catalog flag of ``engine`` it does not define yet (help and version excepted)."""
    flags, abbrev = catalog(engine)
    parser.allow_abbrev = abbrev
    dests = {action.dest for action in parser._actions}
    for flag, takes_value in sorted(flags.items()):
        if flag in parser._option_string_actions or flag in ("-h", "--help", "--version"):
            continue
        dest = flag.lstrip("-").replace("-", "_").replace(".", "_")
        if dest in dests:  # another spelling the emulator reads itself: keep its value apart
            dest = "catalog_" + dest
        dests.add(dest)
        if takes_value:
            # nargs '+': some engine flags take several values; the emulator ignores them anyway.
            parser.add_argument(flag, dest=dest, nargs="+", default=None, help=argparse.SUPPRESS)
        else:
            parser.add_argument(flag, dest=dest, action="store_true", default=None, help=argparse.SUPPRESS)
    return parser
