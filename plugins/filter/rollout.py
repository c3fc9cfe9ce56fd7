# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout_changes and rollout_drain_check filters: playbooks/rollout.yml's decisions
(plugins/module_utils/_rollout.py)."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._rollout import (
    RolloutError,
    drain_check,
    host_settled,
    instance_changes,
    previous_fleet,
    router_states,
)

# The documentation lives in rollout_changes.yml, rollout_drain_check.yml and rollout_previous_fleet.yml beside this file.


def _filter(name, func):
    """``func`` (a _rollout function) as the filter ``name``: same arguments and defaults; a RolloutError becomes an
    AnsibleFilterError with the same text, so the play fails on the message (which names the variable and value)
    rather than on a Python traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except RolloutError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper


rollout_changes = _filter("rollout_changes", instance_changes)
rollout_drain_check = _filter("rollout_drain_check", drain_check)
rollout_previous_fleet = _filter("rollout_previous_fleet", previous_fleet)
rollout_router_states = _filter("rollout_router_states", router_states)
rollout_settled = _filter("rollout_settled", host_settled)


class FilterModule:
    def filters(self):
        return {
            "rollout_changes": rollout_changes,
            "rollout_drain_check": rollout_drain_check,
            "rollout_previous_fleet": rollout_previous_fleet,
            "rollout_router_states": rollout_router_states,
            "rollout_settled": rollout_settled,
        }
