# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan_changes filter: what a new serving plan changes in the server deployed from a previous one."""

from __future__ import annotations

DOCUMENTATION = r"""
name: plan_changes
short_description: List what a new serving plan changes in the running server
version_added: "0.1.0"
author:
  - llmfleet founding engineers (@llmfleet)
description:
  - >-
    Compares the plan a server was deployed from with a new plan over the keys that make up the running server
    (those C(plan.hash) covers), as M(llmfleet.serving.serving_plan)'s O(llmfleet.serving.serving_plan#module:previous_plan)
    does, and returns one entry per changed leaf - C(key) (a dotted path), C(before), C(after) and C(summary)
    (for example C(tensor_parallel_size: 4 -> 8)).
  - The serve role shows these per instance (a packed replica, a cell rank), so C(--check --diff) names what a
    deploy would restart for.
options:
  _input:
    description: The previous plan (the C(llmfleet_plan) local fact); empty or null when nothing was deployed.
    type: dict
    required: true
  current:
    description: The new plan.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show what changes
  ansible.builtin.debug:
    msg: "{{ previous_plan | llmfleet.serving.plan_changes(new_plan) | map(attribute='summary') | list }}"
"""

RETURN = r"""
_value:
  description: One entry per changed key, with C(key), C(before), C(after) and C(summary).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._plan import HASHED_KEYS
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_diff import plan_changes as _plan_changes


def plan_changes(previous, current):
    if previous is not None and not isinstance(previous, dict):
        raise AnsibleFilterError(
            "plan_changes: the previous plan must be a mapping (the llmfleet_plan fact) or empty, got %s"
            % type(previous).__name__
        )
    if not isinstance(current, dict):
        raise AnsibleFilterError(
            "plan_changes: the new plan must be a mapping (a serving_plan or fleet_plan instance), got %s"
            % type(current).__name__
        )
    return _plan_changes(dict(previous or {}), dict(current), HASHED_KEYS)


class FilterModule:
    def filters(self):
        return {"plan_changes": plan_changes}
