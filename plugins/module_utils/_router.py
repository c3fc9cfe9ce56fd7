# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The router's input checks: fleet endpoints -> HAProxy servers, refused with the variable named.

Used by the ``router_servers`` filter (controller side) before the router role changes anything. Every
value that reaches haproxy.cfg passes through here, so a hostile string cannot add a config line.
Standard library only.
"""

from __future__ import annotations

import re

from ansible_collections.llmfleet.serving.plugins.module_utils._names import show

# Health paths the engines serve without an API key (vLLM guards /v1/* only; SGLang guards everything but
# /health* and /metrics), so a check on them stays 200 when the server runs with --api-key.
# vLLM: /health (200, 503 once the engine died) and /ping (SageMaker's alias of /health).
# SGLang: /health (503 while warming up and during a graceful shutdown) and /health_generate (runs a
# one-token generation: a stronger check, at the price of a request per check).
ENGINE_HEALTH_PATHS = {
    "vllm": ("/health", "/ping"),
    "sglang": ("/health", "/health_generate"),
}
# HAProxy names (proxies, servers): letters, digits, '-', '_', '.', ':'. Anything else in a host or instance
# name becomes '_' so the server name stays one config word.
_NAME_BAD = re.compile(r"[^A-Za-z0-9_.:-]")
# An address is one config word: a host name, IPv4 or IPv6 literal (no spaces, '#', quotes or controls).
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,253}$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9_.~/%-]*$")
_EMPTY_MSG = (
    "router_endpoints is empty: run llmfleet.serving.fleet_plan first (the router role takes fleet.endpoints, "
    "set as llmfleet_fleet by the play that ran it), or no standalone replica or cell head is planned in the "
    "fleet (cell ranks >= 1 serve no HTTP and never go behind the router); give router_endpoints as a list of "
    "{host, address, port, instance, engine, served_model_name, health_path}"
)


class RouterInputError(ValueError):
    """An endpoint list the router cannot serve; ``str(exc)`` is the whole message."""


def _port(value, where):
    if isinstance(value, bool) or value is None:
        raise RouterInputError("%s.port is %s: give a TCP port number 1-65535" % (where, show(value)))
    try:
        port = int(str(value).strip())
    except ValueError:
        raise RouterInputError("%s.port is %s: give a TCP port number 1-65535" % (where, show(value))) from None
    if not 1 <= port <= 65535:
        raise RouterInputError("%s.port is %s: give a TCP port number 1-65535" % (where, show(value)))
    return port


def check_port(value, option):
    """Return ``value`` as a port number or raise naming ``option``."""
    if isinstance(value, bool) or value is None:
        raise RouterInputError("%s is %s: give a TCP port number 1-65535" % (option, show(value)))
    try:
        port = int(str(value).strip())
    except ValueError:
        raise RouterInputError("%s is %s: give a TCP port number 1-65535" % (option, show(value))) from None
    if not 1 <= port <= 65535:
        raise RouterInputError("%s is %s: give a TCP port number 1-65535" % (option, show(value)))
    return port


def server_name(host, instance):
    """HAProxy server name of an endpoint: host-instance, unless the instance name already starts with the host."""
    host, instance = str(host), str(instance or "")
    if not instance or instance == host:
        name = host
    elif instance.startswith(host + "-"):
        name = instance
    else:
        name = "%s-%s" % (host, instance)
    return _NAME_BAD.sub("_", name)


def router_servers(endpoints, allow_custom_health_path=False, option="router_endpoints"):
    """Check ``endpoints`` (fleet.endpoints entries) and return the HAProxy servers, in the given order:
    ``[{name, address, port, health_path, engine, host, instance, served_model_name}]``.

    Refuses: an empty list, an entry without host/address/port, a bad port, an address or path that is not
    one config word, a health path the engine does not serve (unless ``allow_custom_health_path``), two entries
    with one server name or one address:port, mixed health paths or served model names (one backend checks one
    path, and a client asking for model X must not land on a server of model Y)."""
    if endpoints is None or (isinstance(endpoints, (list, tuple)) and not endpoints):
        raise RouterInputError(_EMPTY_MSG)
    if not isinstance(endpoints, (list, tuple)):
        raise RouterInputError(
            "%s must be a list of endpoints (fleet.endpoints), got %s: %s"
            % (option, type(endpoints).__name__, show(endpoints))
        )
    servers, names, targets = [], {}, {}
    for index, entry in enumerate(endpoints):
        where = "%s[%d]" % (option, index)
        if not isinstance(entry, dict):
            raise RouterInputError(
                "%s must be a mapping {host, address, port, engine, ...}, got %s" % (where, show(entry))
            )
        if entry.get("host") in (None, ""):
            raise RouterInputError(
                "%s has no host (found keys %s): fleet.endpoints entries carry host, address, "
                "port, instance, engine, served_model_name and health_path" % (where, sorted(entry))
            )
        host = str(entry["host"])
        address = str(entry.get("address") or host)
        if not _ADDRESS_RE.match(address):
            raise RouterInputError(
                "%s.address is %s: give a host name or an IP address (one word, no spaces, "
                "quotes or '#'; it is written into haproxy.cfg)" % (where, show(address))
            )
        port = _port(entry.get("port"), where)
        engine = str(entry.get("engine") or "")
        health_path = str(entry.get("health_path") or "/health")
        known = ENGINE_HEALTH_PATHS.get(engine)
        if not _PATH_RE.match(health_path):
            raise RouterInputError(
                "%s.health_path is %s: give an absolute URL path such as /health (letters, "
                "digits and _ . ~ / %% - only; it is written into haproxy.cfg)" % (where, show(health_path))
            )
        if not allow_custom_health_path and (known is None or health_path not in known):
            if known is None:
                raise RouterInputError(
                    "%s.engine is %s: the router knows the health paths of vllm and sglang only (%s); set "
                    "router_allow_custom_health_path: true to check %s on this server as given"
                    % (where, show(engine), _known_text(), health_path)
                )
            raise RouterInputError(
                "%s.health_path is %s but %s serves %s: the health check would mark the server down "
                "(404, or 401 on /v1/* with an API key); use %s, or set router_allow_custom_health_path: true "
                "if this server really answers 200 there"
                % (where, show(health_path), engine, " and ".join(known), known[0])
            )
        name = server_name(host, entry.get("instance"))
        if name in names:
            raise RouterInputError(
                "%s and %s[%d] both become the HAProxy server %r (host-instance): give each "
                "endpoint its own host or instance name" % (where, option, names[name], name)
            )
        target = "%s:%d" % (address, port)
        if target in targets:
            raise RouterInputError(
                "%s and %s[%d] both point at %s: one server listed twice would get twice the "
                "traffic; list each endpoint once" % (where, option, targets[target], target)
            )
        names[name], targets[target] = index, index
        servers.append(
            {
                "name": name,
                "address": address,
                "port": port,
                "health_path": health_path,
                "engine": engine,
                "host": host,
                "instance": str(entry.get("instance") or ""),
                "served_model_name": str(entry.get("served_model_name") or ""),
            }
        )
    for key, why in (
        ("health_path", "one backend runs one health check"),
        ("served_model_name", "a client asking for one model would land on a server of another and get 404"),
    ):
        values = sorted({s[key] for s in servers})
        if len(values) > 1:
            raise RouterInputError(
                "%s mixes %s values %s: %s; put one model with one health path behind a router"
                % (option, key, ", ".join(values), why)
            )
    return servers


def _known_text():
    return "; ".join("%s: %s" % (e, ", ".join(p)) for e, p in sorted(ENGINE_HEALTH_PATHS.items()))
