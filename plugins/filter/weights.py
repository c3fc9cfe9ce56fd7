# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The weights_waves filter: who copies a model build from whom, wave by wave
(plugins/module_utils/_weights_fanout.py). Documentation: weights_waves.yml beside this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._weights_fanout import FanoutError, copy_waves


def weights_waves(needers, holders, fanout, name="weights_fanout"):
    try:
        return copy_waves(needers, holders, fanout, name)
    except FanoutError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"weights_waves": weights_waves}
