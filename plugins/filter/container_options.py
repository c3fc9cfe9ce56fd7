# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container_options filter: a plan's container options for the serve role's unit and quadlet,
from the one place that derives them (module_utils/_container_args.py). The templates only quote them."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._container_args import container_options as _options

# The documentation lives in container_options.yml beside this file.


def container_options(plan, hf_token=False, hf_token_file="", api_key=False, env_file="", restart_key=""):
    """See module_utils/_container_args.container_options; fails naming the plan key that is missing."""
    if not isinstance(plan, dict):
        raise AnsibleFilterError("container_options: the plan must be a dictionary (llmfleet_plan), got %r" % (plan,))
    try:
        return _options(
            plan,
            hf_token=bool(hf_token),
            hf_token_file=hf_token_file,
            api_key=bool(api_key),
            env_file=env_file,
            restart_key=restart_key,
        )
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(
            "container_options: the plan lacks %s or it has the wrong type (%s); pass a plan made by "
            "llmfleet.serving.serving_plan or fleet_plan" % (exc, type(exc).__name__)
        ) from exc


class FilterModule:
    def filters(self):
        return {"container_options": container_options}
