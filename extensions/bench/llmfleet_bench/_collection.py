"""Import the collection's module_utils from an installed collection or from this checkout."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

PACKAGE = "ansible_collections.llmfleet.serving"


def _alias_checkout(root):
    # The checkout is the collection: register its root as ansible_collections.llmfleet.serving,
    # so `plugins.module_utils._bench_*` import from the files in place (no symbolic link needed).
    parts = PACKAGE.split(".")
    for depth in range(1, len(parts)):
        name = ".".join(parts[:depth])
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = []
            sys.modules[name] = module
    serving = types.ModuleType(PACKAGE)
    serving.__path__ = [str(root)]
    sys.modules[PACKAGE] = serving


def module_utils(name):
    """``plugins.module_utils.<name>`` of the collection."""
    full = "%s.plugins.module_utils.%s" % (PACKAGE, name)
    try:
        return importlib.import_module(full)
    except ImportError:
        root = Path(__file__).resolve().parents[3]
        if not (root / "plugins" / "module_utils" / (name + ".py")).is_file():
            raise
        for key in [k for k in sys.modules if k == PACKAGE or k.startswith(PACKAGE + ".")]:
            del sys.modules[key]
        _alias_checkout(root)
        return importlib.import_module(full)
