# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instance_name filter: the planner's instance-name rule, for plays (teardown) that build paths from a name."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._names import instance_name_problem

# The documentation lives in instance_name.yml beside this file (ansible-doc finds a filter's
# documentation by the filter's name, and this file is named for the rule it holds).


def instance_name(value, option="name"):
    """Return ``value`` unchanged when it is a valid instance name; else fail naming ``option``."""
    problem = instance_name_problem(value)
    if problem:
        raise AnsibleFilterError("%s: %s" % (option, problem))
    return value


class FilterModule:
    def filters(self):
        return {"instance_name": instance_name}
