# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rule for where a client reaches a plan's HTTP endpoint: used by the verify role (on the host, or delegated)
and the benchmark role (from the load generator), through the filter llmfleet.serving.endpoint_url.

- A client on the serving host itself uses the address the port is published on: 127.0.0.1 when the plan publishes
  on every interface (publish_address "", 0.0.0.0 or ::), else that address (a port published on 10.0.0.5 only is
  not reachable at 127.0.0.1).
- A client elsewhere (the controller, a load generator) uses the published address when the plan binds one, else
  the host's address as the inventory knows it. A plan published on a loopback address is reachable from the
  host only: that is an error naming what would work.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._net_address import url_host

_ANY = ("", "0.0.0.0", "::")


class EndpointError(LlmfleetError):
    """The endpoint cannot be reached from where the client runs."""


def endpoint_url(plan, from_host=True, host_address=""):
    """http://ADDRESS:PORT of the plan's endpoint for a client on the serving host (from_host) or elsewhere."""
    if not isinstance(plan, dict) or not isinstance(plan.get("port"), int) or isinstance(plan.get("port"), bool):
        raise EndpointError("endpoint_url: the plan has no port (a plan made by serving_plan or fleet_plan is needed)")
    published = str(plan.get("publish_address") or "")
    if published in _ANY:
        if from_host:
            address = "127.0.0.1"
        elif host_address:
            address = str(host_address)
        else:
            raise EndpointError(
                "endpoint_url: no address for a client off the host: pass the host's address (ansible_host)"
            )
    else:
        loopback = ipaddress.ip_address(published).is_loopback
        if loopback and not from_host:
            raise EndpointError(
                "the endpoint is published on %s only (serve_publish_address), which a client off the host cannot "
                "reach; run the client on the host, or publish on an address the client reaches" % published
            )
        address = published
    return "http://%s:%d" % (url_host(address), plan["port"])
