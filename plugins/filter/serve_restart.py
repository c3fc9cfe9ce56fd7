# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The serve_restart_key, serve_restart_decision and serve_stale_ports filters: the serve role's restart
decision (plugins/module_utils/_restart.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils import _restart
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import HASHED_KEYS
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_diff import plan_changes

# The documentation lives in serve_restart_key.yml, serve_restart_decision.yml and serve_stale_ports.yml beside this file.


def serve_restart_key(plan_hash, hf_token_content="", env_content=""):
    try:
        return _restart.restart_key(plan_hash, hf_token_content, env_content)
    except _restart.RestartInputError as exc:
        raise AnsibleFilterError("serve_restart_key: " + str(exc)) from exc


def _plan(value, argument):
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError(
            "serve_restart_decision: %s: expected a plan (a mapping, as serving_plan returns) or nothing, got %s"
            % (argument, type(value).__name__)
        )
    return dict(value)


def serve_restart_decision(planned_key, inspect=None, unit_changed=False, previous_plan=None, plan=None):
    previous_plan = _plan(previous_plan, "previous_plan")
    plan = _plan(plan, "plan")
    changes = None
    plan_unchanged = None
    # What changed is known only when the plan the server was deployed from was recorded.
    if previous_plan and plan:
        plan_unchanged = previous_plan.get("hash") == plan.get("hash")
        changes = [c["summary"] for c in plan_changes(previous_plan, plan, HASHED_KEYS)]
    try:
        return _restart.restart_decision(
            planned_key, inspect, unit_changed=unit_changed, changes=changes, plan_unchanged=plan_unchanged
        )
    except _restart.RestartInputError as exc:
        raise AnsibleFilterError("serve_restart_decision: " + str(exc)) from exc


def serve_stale_ports(results):
    try:
        return _restart.stale_ports(results)
    except _restart.RestartInputError as exc:
        raise AnsibleFilterError("serve_stale_ports: " + str(exc)) from exc


class FilterModule:
    def filters(self):
        return {
            "serve_restart_key": serve_restart_key,
            "serve_restart_decision": serve_restart_decision,
            "serve_stale_ports": serve_stale_ports,
        }
