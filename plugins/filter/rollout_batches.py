# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout_cell_batches filter: the multi-node cells a rollout's batches would split
(plugins/module_utils/_rollout_batches.py). Documentation: rollout_cell_batches.yml beside this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._rollout_batches import BatchError, cell_batch_problems


def rollout_cell_batches(fleet, hosts, batch):
    try:
        return cell_batch_problems(fleet, hosts, batch)
    except BatchError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"rollout_cell_batches": rollout_cell_batches}
