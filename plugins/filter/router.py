# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The router_servers and router_port filters: the router role's input checks (plugins/module_utils/_router.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._router import RouterInputError, check_port
from ansible_collections.llmfleet.serving.plugins.module_utils._router import router_servers as _router_servers

# The documentation lives in router_servers.yml and router_port.yml beside this file.


def router_servers(endpoints, allow_custom_health_path=False, option="router_endpoints"):
    try:
        return _router_servers(endpoints, allow_custom_health_path=bool(allow_custom_health_path), option=option)
    except RouterInputError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def router_port(value, option="router_port"):
    try:
        return check_port(value, option)
    except RouterInputError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"router_servers": router_servers, "router_port": router_port}
