# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout_changes and rollout_drain_check filters: playbooks/rollout.yml's decisions
(plugins/module_utils/_rollout.py)."""

from __future__ import annotations

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


def rollout_changes(instances, host, restart_keys, running=None, recorded_plans=None, problems=None, router=None):
    try:
        return instance_changes(instances, host, restart_keys, running, recorded_plans, problems, router)
    except RolloutError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def rollout_drain_check(servers, draining, min_healthy, option="rollout_min_healthy"):
    try:
        return drain_check(servers, draining, min_healthy, option)
    except RolloutError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def rollout_previous_fleet(hosts):
    try:
        return previous_fleet(hosts)
    except RolloutError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def rollout_router_states(results):
    try:
        return router_states(results)
    except RolloutError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def rollout_settled(changes):
    try:
        return host_settled(changes)
    except RolloutError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {
            "rollout_changes": rollout_changes,
            "rollout_drain_check": rollout_drain_check,
            "rollout_previous_fleet": rollout_previous_fleet,
            "rollout_router_states": rollout_router_states,
            "rollout_settled": rollout_settled,
        }
