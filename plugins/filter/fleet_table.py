# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet_table filter: one aligned text table for a list of per-host rows."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_table
short_description: Format per-host rows as an aligned text table
version_added: "0.1.0"
author:
  - llmfleet founding engineers (@llmfleet)
description:
  - Turns a list of dictionaries (one per host) into lines of an aligned, plain-text table, for the
    summaries printed at the end of C(site.yml) and C(benchmark.yml).
  - Missing keys print as C(-). Floats are rounded to O(digits) decimal places.
options:
  _input:
    description: The rows, one dictionary per host.
    type: list
    elements: dict
    required: true
  columns:
    description:
      - Keys to show, in order. Each entry is a key, or a C(key=Header) string to name the column.
      - Defaults to the keys of the first row.
    type: list
    elements: str
  digits:
    description: Decimal places for floating point values.
    type: int
    default: 1
"""

EXAMPLES = r"""
- name: Print the fleet summary
  ansible.builtin.debug:
    msg: "{{ rows | llmfleet.serving.fleet_table(['host=Host', 'engine=Engine', 'output_throughput=Output tok/s']) }}"
"""

RETURN = r"""
_value:
  description: The table, one string per line (header, rule, one line per row).
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError


def _cell(value, digits):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "%.*f" % (digits, value)
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v, digits) for v in value)
    return str(value)


def fleet_table(rows, columns=None, digits=1):
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise AnsibleFilterError(
            "fleet_table expects a list of dictionaries (one per host), got %r" % type(rows).__name__
        )
    if columns is None:
        columns = list(rows[0].keys()) if rows else []
    keys, headers = [], []
    for col in columns:
        key, _sep, header = str(col).partition("=")
        keys.append(key)
        headers.append(header or key)
    table = [headers] + [[_cell(row.get(key), digits) for key in keys] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(keys))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


class FilterModule:
    def filters(self):
        return {"fleet_table": fleet_table}
