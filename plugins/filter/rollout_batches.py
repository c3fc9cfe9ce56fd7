# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout_cell_batches and rollout_batch_hosts filters: the multi-node cells a rollout's batches would split,
and the hosts the batches go through (plugins/module_utils/_rollout_batches.py). Documentation:
rollout_cell_batches.yml and rollout_batch_hosts.yml beside this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._rollout_batches import (
    BatchError,
    batch_hosts,
    cell_batch_problems,
)


def rollout_cell_batches(fleet, hosts, batch, restart=None):
    try:
        return cell_batch_problems(fleet, hosts, batch, restart)
    except BatchError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def rollout_batch_hosts(fleet, hosts, changed):
    try:
        return batch_hosts(fleet, hosts, changed)
    except BatchError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"rollout_batch_hosts": rollout_batch_hosts, "rollout_cell_batches": rollout_cell_batches}
