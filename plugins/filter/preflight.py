# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight_problems filter: the fleet plan against every host's host_preflight findings, on the controller."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._preflight_check import (
    narrowed,
    probe_args,
    problems,
    running_cell,
)

# The documentation lives in preflight_problems.yml beside this file (ansible-doc finds a filter's documentation
# by the filter's name).


def preflight_problems(fleet, findings, disk_headroom_gb=0):
    """One line per problem (``HOST: found; what would work``); [] when the fleet may be deployed."""
    if not isinstance(fleet, dict) or not isinstance(fleet.get("hosts"), dict):
        raise AnsibleFilterError(
            "preflight_problems: the fleet must be llmfleet.serving.fleet_plan's 'fleet' "
            "(a mapping with hosts, cells, endpoints), found %s" % type(fleet).__name__
        )
    if not isinstance(findings, dict):
        raise AnsibleFilterError(
            "preflight_problems: findings must map inventory host names to their findings, "
            "found %s" % type(findings).__name__
        )
    try:
        headroom = float(disk_headroom_gb)
    except (TypeError, ValueError):
        raise AnsibleFilterError(
            "preflight_problems: disk_headroom_gb %r must be a number of GB (e.g. 10)" % (disk_headroom_gb,)
        ) from None
    return problems(fleet, findings, headroom)


def preflight_probe_args(fleet, host):
    """What llmfleet.serving.host_preflight looks at on ``host``, and its part in its cell's reachability check."""
    if not isinstance(fleet, dict) or not isinstance(fleet.get("hosts"), dict):
        raise AnsibleFilterError(
            "preflight_probe_args: the fleet must be llmfleet.serving.fleet_plan's 'fleet' "
            "(a mapping with hosts, cells, endpoints), found %s" % type(fleet).__name__
        )
    return probe_args(fleet, host)


def preflight_running_cell(fleet, cell, head_gather):
    """Our container of ``cell`` holding its dist port on the head (host_preflight's gather there), else ''."""
    if not isinstance(fleet, dict) or not isinstance(fleet.get("hosts"), dict):
        raise AnsibleFilterError(
            "preflight_running_cell: the fleet must be llmfleet.serving.fleet_plan's 'fleet' "
            "(a mapping with hosts, cells, endpoints), found %s" % type(fleet).__name__
        )
    if not cell:
        return ""
    return running_cell(fleet, cell, head_gather if isinstance(head_gather, dict) else {}) or ""


def preflight_gathered(read, fleet, host, runtime=None, gathered=None):
    """The host's host_preflight findings for the plan: ``gathered`` (the role's own read) when it ran, else the
    plan's part of ``read`` (the wider read playbooks/preflight.yml made before planning); {} when neither has it."""
    if not isinstance(fleet, dict) or not isinstance(fleet.get("hosts"), dict):
        raise AnsibleFilterError(
            "preflight_gathered: the fleet must be llmfleet.serving.fleet_plan's 'fleet' "
            "(a mapping with hosts, cells, endpoints), found %s" % type(fleet).__name__
        )
    if isinstance(gathered, dict) and isinstance(gathered.get("runtime"), dict):
        return gathered
    return narrowed(read, probe_args(fleet, host), runtime) or {}


class FilterModule:
    def filters(self):
        return {
            "preflight_problems": preflight_problems,
            "preflight_probe_args": preflight_probe_args,
            "preflight_running_cell": preflight_running_cell,
            "preflight_gathered": preflight_gathered,
        }
