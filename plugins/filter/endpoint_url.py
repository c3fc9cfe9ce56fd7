# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The endpoint_url filter: plugins/module_utils/_endpoint.py for the verify and benchmark roles."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._endpoint import EndpointError
from ansible_collections.llmfleet.serving.plugins.module_utils._endpoint import endpoint_url as _endpoint_url

# The documentation lives in endpoint_url.yml beside this file.


def endpoint_url(plan, from_host=True, host_address=""):
    try:
        return _endpoint_url(plan, from_host=bool(from_host), host_address=host_address or "")
    except EndpointError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"endpoint_url": endpoint_url}
