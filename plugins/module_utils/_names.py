# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks for strings that become names, paths or command-line text on a host.

One place for each rule, used by the planner (module side) and by the ``instance_name`` filter
(controller side, for teardown), so a name the planner accepts is exactly a name teardown accepts.
Standard library only: this file ships to GPU hosts inside the modules.
"""

from __future__ import annotations

import re

# A container name, a systemd unit's stem and a file name under the role's directories at once:
# Docker's own container-name rule ([a-zA-Z0-9][a-zA-Z0-9_.-]) without '/', '..' tricks (a name
# cannot start with '.'), spaces, '%' (systemd specifiers), '$' or '\\' (shell and unit escapes),
# and at most 128 characters (Docker accepts longer names, but a unit file name has 255 bytes and
# the role adds prefixes and suffixes to it).
INSTANCE_NAME_MAX = 128
INSTANCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,%d}$" % (INSTANCE_NAME_MAX - 1))
INSTANCE_NAME_RULE = (
    "1 to %d characters: letters, digits, '_', '.' and '-', starting with a letter or digit (no '/', "
    "spaces, '%%', '$' or other characters: the name becomes a container name, a systemd unit name and a file "
    "name under the role's directories)" % INSTANCE_NAME_MAX
)

_CONTROL_NAMES = {
    "\x00": "NUL",
    "\t": "tab",
    "\n": "line feed",
    "\x0b": "vertical tab",
    "\x0c": "form feed",
    "\r": "carriage return",
    "\x1b": "escape",
    "\x7f": "delete",
}
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class InvalidNameError(ValueError):
    """A value that breaks a naming rule; ``str(exc)`` is the whole message (no option prefix)."""


def show(value, limit=80):
    """The value as the user wrote it, escapes visible (repr), cut to ``limit`` characters."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def control_character(value):
    """Describe the first control character in ``value`` ('line feed (U+000A)'), or None."""
    match = _CONTROL_RE.search(value)
    if not match:
        return None
    char = match.group(0)
    return "%s (U+%04X)" % (_CONTROL_NAMES.get(char, "control character"), ord(char))


def instance_name_problem(value):
    """Why ``value`` is not a valid instance name, or None when it is."""
    if not isinstance(value, str):
        return "must be a string, found %s %s" % (type(value).__name__, show(value))
    if not INSTANCE_NAME_RE.match(value):
        return "%s is not a valid name; use %s, e.g. 'llmfleet-deepseek'" % (show(value), INSTANCE_NAME_RULE)
    return None


def validate_instance_name(value, option):
    """Return ``value`` when it is a valid instance name; else raise ValueError naming ``option``."""
    problem = instance_name_problem(value)
    if problem:
        raise InvalidNameError("%s: %s" % (option, problem))
    return value


def replica_name(base, index):
    """The instance name of replica ``index`` of a host whose instances are named ``base``.

    Replica 0 keeps the base name, the name a host with one replica (and every cell rank) has: growing
    a host from 1 to N replicas adds BASE-1 .. BASE-(N-1) and leaves the running one alone, and a
    shrink from N to M removes exactly BASE-M .. BASE-(N-1). The unit, secret directory, local fact
    entry, router server (HOST-NAME) and benchmark textfile are all named after this name.
    """
    return base if index == 0 else "%s-%d" % (base, index)
