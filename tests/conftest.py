"""Make the repository importable as ``ansible_collections.llmfleet.serving``.

The collection is developed in place: ``.collections/ansible_collections/llmfleet/serving``
is a symbolic link to the repository root, created here (and by ``make``) when missing.
Playbooks run with ``ANSIBLE_COLLECTIONS_PATH=.collections`` see the same tree.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".collections"


def _ensure_collection_link():
    ns_dir = COLLECTIONS / "ansible_collections" / "llmfleet"
    ns_dir.mkdir(parents=True, exist_ok=True)
    link = ns_dir / "serving"
    if not link.exists():
        try:
            link.symlink_to(os.path.relpath(ROOT, ns_dir))
        except FileExistsError:  # another worker made it first
            pass


_ensure_collection_link()
# tests/unit for its helpers; the emulator tests' folder for the one emulator harness (emulator_harness.py)
for path in (COLLECTIONS, ROOT / "tests" / "unit", ROOT / "extensions" / "emulator" / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

collect_ignore_glob = [".collections/*"]
