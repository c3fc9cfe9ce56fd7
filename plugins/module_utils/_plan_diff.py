# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a new plan changes in the running server, key by key.

The serve role restarts a server only when its plan hash changes; this module says *why*, in the
words a reviewer of ``--check --diff`` wants: ``tensor_parallel_size: 4 -> 8``, not "the unit file
changed". Only the keys that make up the running server (``_plan.HASHED_KEYS``) are compared, so
a change in ``reasons`` never shows up as a change of the server. Pure: no I/O.
"""

from __future__ import annotations

import difflib
import json

_UNSET = "(unset)"


def _shown(value):
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _list_change(key, before, after):
    """One change for a list, naming what was removed and added (a command's flags, say)."""
    matcher = difflib.SequenceMatcher(a=[_shown(v) for v in before], b=[_shown(v) for v in after], autojunk=False)
    removed, added = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed.extend(matcher.a[i1:i2])
        if tag in ("replace", "insert"):
            added.extend(matcher.b[j1:j2])
    parts = []
    if removed:
        parts.append("removed " + " ".join(removed))
    if added:
        parts.append("added " + " ".join(added))
    return {"key": key, "before": before, "after": after, "summary": "%s: %s" % (key, "; ".join(parts))}


def _walk(key, before, after, changes):
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for sub in sorted(set(before) | set(after), key=str):
            _walk("%s.%s" % (key, sub), before.get(sub, _UNSET), after.get(sub, _UNSET), changes)
        return
    if isinstance(before, list) and isinstance(after, list):
        changes.append(_list_change(key, before, after))
        return
    changes.append(
        {"key": key, "before": before, "after": after, "summary": "%s: %s -> %s" % (key, _shown(before), _shown(after))}
    )


def plan_changes(previous, current, keys):
    """Changes from ``previous`` to ``current`` over ``keys``, one entry per leaf that differs.

    Each entry has ``key`` (dotted path), ``before``, ``after`` and a one-line ``summary``.
    ``previous`` None (nothing deployed yet) gives one entry per key, from ``(unset)``.
    """
    previous = previous or {}
    changes = []
    for key in keys:
        _walk(key, previous.get(key, _UNSET), current.get(key, _UNSET), changes)
    return changes


def _diff_lines(key, value):
    # A list (an argv) one item a line, so the unified diff marks the one flag that changed.
    if isinstance(value, list):
        return "%s:\n%s" % (key, "".join("  %s\n" % _shown(item) for item in value))
    return "%s: %s\n" % (key, _shown(value))


def plan_diff(previous, current, keys):
    """An Ansible ``diff`` dict: before/after text of the leaves that differ (``key: value``, lists one item a line)."""
    changes = plan_changes(previous, current, keys)
    before = "".join(_diff_lines(c["key"], c["before"]) for c in changes)
    after = "".join(_diff_lines(c["key"], c["after"]) for c in changes)
    return {"before": before, "after": after, "before_header": "deployed plan", "after_header": "new plan"}
