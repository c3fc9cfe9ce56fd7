# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quoting for the files the serve role writes: one function per format, nothing else quotes.

- systemd_word: one argument of a systemd command line (ExecStart=, quadlet Exec=/Environment=/
  EnvironmentFile= of [Container], PodmanArgs=/Label=).
- systemd_command_lines: a list of such words, one option per line, for readable unit diffs.
- systemd_value: a plain setting value (Description=, EnvironmentFile= of [Service]) or text in a
  comment line.
- quadlet_value: a quadlet key passed on as one podman argument (Image=, Volume=, PublishPort=, ...).
- container_env_file: the KEY=VALUE lines `docker/podman run --env-file` read (literally).
- systemd_env_file: the KEY="VALUE" lines systemd's EnvironmentFile= reads.

Each refuses what its format cannot carry instead of writing something that means another thing:
a line break in a setting value would start a new setting (unit-file injection). The filters' docs
are the YAML files next to this one (one per filter, as ansible-doc expects for a file of several).
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# systemd splits command lines on whitespace and gives " ' \ and a lone ; a meaning; a word holding
# any of them, or nothing, is double-quoted. Control characters are quoted too (they are escaped).
_NEEDS_QUOTES = re.compile(r"[\s\"'\\;]|[\x00-\x1f\x7f]")
# Inside double quotes systemd undoes C escapes (systemd.syntax(7)): these are the ones we write.
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_GLOB = re.compile(r"[*?\[\]{}\\]")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters systemd's EnvironmentFile= parser unescapes after a backslash inside double quotes.
_SYSTEMD_ENV_ESCAPE = re.compile(r'([\\"`$])')


def _field(field):
    return field if field else "a value"


def _scalar(value, field, filter_name):
    if isinstance(value, (dict, list, tuple, set)) or value is None:
        raise AnsibleFilterError(
            "%s: %s must be a string or a number, got %s %r" % (filter_name, _field(field), type(value).__name__, value)
        )
    if isinstance(value, bool):
        # str(True) would write "True", which no engine flag or systemd setting means.
        raise AnsibleFilterError(
            "%s: %s must be a string or a number, got the boolean %r; quote it in YAML "
            "(\"true\") if a word is meant" % (filter_name, _field(field), value)
        )
    return str(value)


def systemd_word(value, field=None):
    """One argument of a systemd command line, exactly as given to the program.

    ``%`` and ``$`` are doubled (systemd expands specifiers and variables in command lines). A word with
    whitespace, quotes, a backslash, ``;``, a control character or nothing in it is double-quoted, with
    ``\\`` and ``"`` escaped and control characters written as C escapes, which systemd undoes: so the
    program gets the value byte for byte (an inline chat template may hold line breaks and tabs). NUL is
    refused: no argument of a process can hold it.
    """
    s = _scalar(value, field, "systemd_word")
    if "\x00" in s:
        raise AnsibleFilterError(
            "systemd_word: %s holds a NUL character, which no command-line argument can "
            "carry: %r; remove it" % (_field(field), s)
        )
    s = s.replace("%", "%%").replace("$", "$$")
    if s and not _NEEDS_QUOTES.search(s):
        return s
    out = []
    for ch in s:
        if ch in _C_ESCAPES:
            out.append(_C_ESCAPES[ch])
        elif _CONTROL.match(ch):
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def systemd_command_lines(words, field=None):
    """The words quoted with systemd_word, one option per line (a word starting with ``-`` opens a
    line, the values after it follow on it), lines joined by a backslash continuation."""
    if not isinstance(words, (list, tuple)):
        raise AnsibleFilterError(
            "systemd_command_lines: %s must be a list of words, got %s %r"
            % (_field(field), type(words).__name__, words)
        )
    lines, current = [], []
    for word in words:
        if str(word).startswith("-") and current:
            lines.append(" ".join(current))
            current = []
        current.append(systemd_word(word, field))
    if current:
        lines.append(" ".join(current))
    return " \\\n    ".join(lines)


def systemd_value(value, field=None, glob=False):
    """A plain unit-file setting value or comment text: ``%`` doubled (specifiers); refused when it
    holds a control character (a line break would start a new line: another setting, or a section
    header) or ends with a backslash (systemd would join the next line onto it). ``glob=True`` for a
    path systemd expands as a glob pattern (EnvironmentFile=): ``* ? [ ] { } \\`` are refused too, as
    they would name other files or none."""
    s = _scalar(value, field, "systemd_value")
    bad = _CONTROL.search(s)
    if bad:
        raise AnsibleFilterError(
            "%s holds the control character %r, which cannot go into a systemd unit line (a line break would "
            "start a new setting): %r; use printable characters only" % (_field(field), bad.group(0), s)
        )
    if s.endswith("\\"):
        raise AnsibleFilterError(
            "%s ends with a backslash, which systemd reads as 'continued on the next line': %r; remove the "
            "trailing backslash" % (_field(field), s)
        )
    if glob:
        bad_glob = _GLOB.search(s)
        if bad_glob:
            raise AnsibleFilterError(
                "%s holds %r, which systemd reads as a glob pattern in this path (EnvironmentFile=): %r; use a "
                "directory name without * ? [ ] { } or backslash" % (_field(field), bad_glob.group(0), s)
            )
    return s.replace("%", "%%")


def quadlet_value(value, field=None):
    """A quadlet key that podman's generator passes on as ONE argument of ``podman run`` without
    unquoting (Image=, Volume=, PublishPort=, ContainerName=, AddDevice=): the generator quotes it for
    ExecStart= but leaves ``%`` and ``$`` to systemd, so both are doubled here; refused like
    systemd_value (control characters, a trailing backslash)."""
    return systemd_value(value, field).replace("$", "$$")


def _env_items(variables, filter_name, field):
    if not isinstance(variables, dict):
        raise AnsibleFilterError(
            "%s: %s must be a dictionary of variable names to values, got %s"
            % (filter_name, _field(field), type(variables).__name__)
        )
    items = []
    for name, value in variables.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise AnsibleFilterError(
                "%s: %s: %r is not an environment variable name (letters, digits and _, "
                "not starting with a digit)" % (filter_name, _field(field), name)
            )
        # The values are secrets: errors name the variable, never the value.
        value = _scalar(value, "%s (%s)" % (_field(field), name), filter_name)
        if re.search(r"[\r\n\x00]", value):
            raise AnsibleFilterError(
                "%s: the value of %s in %s holds a line break or NUL, which an env file cannot hold (the value is "
                "not shown); give it on one line" % (filter_name, name, _field(field))
            )
        items.append((name, value))
    return items


def container_env_file(variables, field=None):
    """The lines of a file for ``docker run --env-file`` / ``podman run --env-file``: ``NAME=VALUE``,
    the value literal (those readers do no unquoting or escaping), no trailing newline. A value with a
    line break or NUL is refused: the rest would be read as another variable."""
    return "\n".join("%s=%s" % item for item in _env_items(variables, "container_env_file", field))


def systemd_env_file(variables, field=None):
    """The lines of a file for systemd's ``EnvironmentFile=``: ``NAME="VALUE"`` with ``\\ " ` $``
    escaped by a backslash (what systemd unescapes in a double-quoted value), no trailing newline.
    A value with a line break or NUL is refused."""
    return "\n".join(
        '%s="%s"' % (name, _SYSTEMD_ENV_ESCAPE.sub(r"\\\1", value))
        for name, value in _env_items(variables, "systemd_env_file", field)
    )


class FilterModule:
    def filters(self):
        return {
            "systemd_word": systemd_word,
            "systemd_command_lines": systemd_command_lines,
            "systemd_value": systemd_value,
            "quadlet_value": quadlet_value,
            "container_env_file": container_env_file,
            "systemd_env_file": systemd_env_file,
        }
