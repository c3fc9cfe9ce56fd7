# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd_escape_args filter: an argument vector as one systemd ExecStart= / quadlet Exec= value."""

from __future__ import annotations

DOCUMENTATION = r"""
name: systemd_escape_args
short_description: Quote an argument vector for a systemd ExecStart= line or a quadlet Exec= line
version_added: "0.1.0"
author:
  - llmfleet founding engineers (@llmfleet)
description:
  - Joins a list of arguments so that systemd splits it back into exactly the same list.
  - Arguments with whitespace, quotes, backslashes or no characters are double-quoted with C(\") and C(\\) escapes.
  - C(%) becomes C(%%) (no specifier expansion) and C($) becomes C($$) (no environment expansion), so a flag
    value reaches the program as written. Pass O(expand) to keep C(${VAR}) references that systemd must expand
    from an C(EnvironmentFile=) (used for a secret the engine only takes as an argument).
options:
  _input:
    description: The arguments.
    type: list
    elements: str
    required: true
  expand:
    description: Names of environment variables whose C(${NAME}) references are left for systemd to expand.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Render an ExecStart line
  ansible.builtin.debug:
    msg: "ExecStart=/usr/bin/docker {{ ['run', '--label', 'a b'] | llmfleet.serving.systemd_escape_args }}"
"""

RETURN = r"""
_value:
  description: The arguments as one line.
  type: str
"""

import re

from ansible.errors import AnsibleFilterError

_NEEDS_QUOTES = re.compile(r"""[\s"'\\;]""")


def _escape(arg, expand):
    arg = str(arg)
    if "\n" in arg or "\x00" in arg:
        raise AnsibleFilterError("systemd_escape_args: an argument contains a newline or NUL byte: %r" % arg)
    keep = {"${%s}" % name for name in expand}
    parts = re.split(r"(\$\{[A-Za-z_][A-Za-z0-9_]*\})", arg)
    out = []
    for part in parts:
        if part in keep:
            out.append(part)
        else:
            out.append(part.replace("%", "%%").replace("$", "$$"))
    text = "".join(out)
    if text == "" or _NEEDS_QUOTES.search(text):
        text = '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')
    return text


def systemd_escape_args(args, expand=None):
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise AnsibleFilterError("systemd_escape_args expects a list of arguments, got %s" % type(args).__name__)
    return " ".join(_escape(arg, expand or []) for arg in args)


class FilterModule(object):
    def filters(self):
        return {"systemd_escape_args": systemd_escape_args}
