# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files a module writes on its host: whole, or not at all, and shown in diff mode.

``write_file(module, path, content)`` writes ``content`` to a temporary file in the destination's own
folder (so the rename stays on one file system) and moves it over ``path`` with ``module.atomic_move``:
a reader sees the old file or the new one, never half of one. Check mode writes nothing but reports
whether the file would change; in diff mode the result carries the file's text before and after.
"""

from __future__ import annotations

import os
import tempfile


def _read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        # a file we cannot read as text is replaced; it counts as different and shows as empty
        return ""


def write_file(module, path, content, mode=0o644):
    """Write ``content`` (text) to ``path``; returns ``{"changed": bool, "diff": {...}}`` (diff only in diff mode).

    An identical file with the same mode is left alone (``changed`` false).
    """
    path = os.path.abspath(path)
    before = _read_text(path)
    same_mode = before is not None and (os.stat(path).st_mode & 0o7777) == mode
    changed = before != content or not same_mode
    outcome = {"changed": changed}
    if module._diff:
        outcome["diff"] = {
            "before_header": path,
            "after_header": path,
            "before": before or "",
            "after": content,
        }
    if not changed or module.check_mode:
        return outcome
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
        # atomic_move keeps an existing file's mode; the documented mode wins
        os.chmod(path, mode)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return outcome
