# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the serve role restarts, starts or leaves alone an instance's server, and why.

The role used to decide this in lazy Jinja (roles/serve/vars/main.yml); here it is one function with unit
tests. Inputs are what the role registered: the restart key the plan asks for (``restart_key``), the
running container as ``docker/podman inspect`` printed it, and whether the unit file changed in this run.

The rule: a running container started from the planned restart key keeps running, even when the unit
file changed (a collection upgrade that reworded the unit: the plan hash already covers the image, the
command, the environment, the container options and the secrets' digest). A running container started from
another key, or with none, is restarted. A container that does not run is started (restarted when the unit
changed, so that a unit systemd keeps retrying runs the new one). Pure: no I/O, standard library only.
"""

from __future__ import annotations

import hashlib
import json

# The label the unit puts on the container (roles/serve/templates/*: --label / Label=).
RESTART_KEY_LABEL = "llmfleet.restart-key"


class RestartInputError(ValueError):
    """An input is not what the role registers; ``argument`` names it."""

    def __init__(self, argument, message):
        super().__init__("%s: %s" % (argument, message))
        self.argument = argument


def _sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def restart_key(plan_hash, hf_token_content, env_content):
    """The restart key of a plan and the content of its secret files (never the secrets: a digest of a digest).

    Byte for byte what the role computed in Jinja before (running containers carry it as a label, so a
    different string would restart every server on upgrade):
    ``(plan.hash ~ ':' ~ ([token, env] | to_json | hash('sha256'))) | hash('sha256')``. Ansible's
    ``to_json`` is ``json.dumps`` with its default separators and ``ensure_ascii=True``.
    """
    for name, value in (("plan_hash", plan_hash), ("hf_token_content", hf_token_content), ("env_content", env_content)):
        if not isinstance(value, str):
            raise RestartInputError(name, "expected a string, got %s" % type(value).__name__)
    if not plan_hash:
        raise RestartInputError("plan_hash", "is empty; pass the plan's hash (llmfleet_plan.hash)")
    secrets_digest = _sha256(json.dumps([hf_token_content, env_content]))
    return _sha256(plan_hash + ":" + secrets_digest)


def _inspect_text(inspect):
    """The stdout of the role's ``inspect`` (a registered result, its stdout, or already parsed JSON)."""
    if inspect is None:
        return None
    if isinstance(inspect, dict) and ("rc" in inspect or "stdout" in inspect or "skipped" in inspect):
        # A registered command result: a skipped task, a failed inspect (no such container) = nothing runs.
        if inspect.get("skipped") or inspect.get("rc", 1) != 0:
            return None
        return inspect.get("stdout") or None
    return inspect


def running_container(inspect):
    """The container ``inspect`` describes as a dict (``State``, ``HostConfig``, ``Config``), or {} for none.

    ``inspect``: the registered result of the role's inspect task, its stdout (a JSON list of one container,
    as ``docker/podman inspect`` prints), one container as a dict, or None/"" (no container).
    """
    value = _inspect_text(inspect)
    if value in (None, "", [], {}):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise RestartInputError(
                "inspect", "is not the JSON docker/podman inspect prints (%s): %.120r" % (exc, value)
            ) from exc
    if isinstance(value, list):
        if not value:
            return {}
        value = value[0]
    if not isinstance(value, dict):
        raise RestartInputError("inspect", "expected one container (a JSON object), got %s" % type(value).__name__)
    return value


def _mapping(container, key):
    got = container.get(key)
    return got if isinstance(got, dict) else {}


def _host_ports(bindings):
    """Host ports of ``HostConfig.PortBindings`` ({"8000/tcp": [{"HostIp": "", "HostPort": "8000"}]} or null)."""
    ports = []
    for binding_list in (bindings or {}).values():
        for binding in binding_list or []:
            port = (binding or {}).get("HostPort")
            if port not in (None, ""):
                try:
                    ports.append(int(port))
                except (TypeError, ValueError) as exc:
                    raise RestartInputError("inspect", "HostPort %r is not a port number" % (port,)) from exc
    return ports


def restart_decision(planned_key, inspect=None, unit_changed=False, changes=None, plan_unchanged=None):
    """What to do with one instance's server.

    ``planned_key``: the restart key of the new plan (restart_key()); ``inspect``: see running_container();
    ``unit_changed``: whether this run changed the unit (or quadlet) file; ``changes``: what the new plan
    changes against the plan the server was deployed from (the plan_changes summaries), when known;
    ``plan_unchanged``: True when that recorded plan has the new plan's hash (None: unknown).

    Returns ``restart`` (restart the unit), ``start`` (nothing runs: start it), ``running``, ``reason`` (one
    sentence; digests only, never a secret), ``warning`` (a unit change that waits for the next restart, or
    ""), ``running_key`` (the running container's label, "" when none) and ``ports_held`` (host ports the
    running container publishes: not "taken" by something else).
    """
    if not isinstance(planned_key, str) or not planned_key:
        raise RestartInputError(
            "planned_key", "expected the plan's restart key (a sha256 hex string), got %r" % (planned_key,)
        )
    if not isinstance(unit_changed, bool):
        raise RestartInputError("unit_changed", "expected true or false, got %r" % (unit_changed,))
    if changes is not None and not (isinstance(changes, list) and all(isinstance(c, str) for c in changes)):
        raise RestartInputError("changes", "expected a list of change summaries (strings), got %r" % (changes,))
    container = running_container(inspect)
    running = _mapping(container, "State").get("Running") is True
    running_key = _mapping(container, "Config").get("Labels") or {}
    if not isinstance(running_key, dict):
        raise RestartInputError("inspect", "Config.Labels is not a mapping: %r" % (running_key,))
    running_key = running_key.get(RESTART_KEY_LABEL) or ""
    if not isinstance(running_key, str):
        raise RestartInputError("inspect", "label %s is not a string: %r" % (RESTART_KEY_LABEL, running_key))
    ports = _host_ports(_mapping(container, "HostConfig").get("PortBindings")) if running else []
    result = {
        "restart": False,
        "start": not running,
        "running": running,
        "reason": "",
        "warning": "",
        "running_key": running_key,
        "planned_key": planned_key,
        "ports_held": ports,
    }
    if not running:
        result["restart"] = unit_changed
        result["reason"] = "no container of this instance runs: the service is started" + (
            " from the new unit (by a restart, which also replaces a unit systemd keeps retrying)"
            if unit_changed
            else ""
        )
        return result
    if running_key == planned_key:
        result["reason"] = (
            "the running container was started from the planned restart key %s: it keeps running" % (planned_key[:12])
        )
        if unit_changed:
            result["warning"] = (
                "the unit file changed but what the server runs did not (same plan and secret files, restart key %s):"
                " the running server is left alone and the new unit applies at its next restart" % planned_key[:12]
            )
            result["reason"] += " (the unit file changed; systemd reloads it, the new unit applies at the next restart)"
        return result
    result["restart"] = True
    if not running_key:
        why = "the running container has no %s label (started outside this role or by an older version)" % (
            RESTART_KEY_LABEL
        )
    else:
        why = "the running container was started from restart key %s, the plan asks for %s" % (
            running_key[:12],
            planned_key[:12],
        )
    if changes:
        why += "; the plan changes %s" % ", ".join(changes)
    elif plan_unchanged:
        why += "; the plan is the one recorded, so the secret files changed (or an earlier run wrote this unit and stopped before restarting)"
    result["reason"] = "restart: " + why
    return result


def stale_ports(results):
    """Host ports the running containers of replaced instances publish (they are stopped before the new one starts).

    ``results``: the registered loop results of previous.yml's inspect (``--format '{{json .State.Running}}
    {{json .HostConfig.PortBindings}}'``): stdout "true {...}" for a running container; a skipped item, a
    failed inspect or "false ..." holds nothing.
    """
    if results is None:
        return []
    if isinstance(results, dict):
        results = results.get("results", [])
    if not isinstance(results, list):
        raise RestartInputError(
            "results", "expected the registered loop results (a list), got %s" % type(results).__name__
        )
    ports = []
    for item in results:
        if not isinstance(item, dict) or item.get("skipped") or item.get("rc") != 0:
            continue
        stdout = item.get("stdout") or ""
        if not stdout.startswith("true "):
            continue
        try:
            bindings = json.loads(stdout[len("true ") :])
        except ValueError as exc:
            raise RestartInputError(
                "results", "an inspect printed %.200r, not 'RUNNING BINDINGS' JSON (%s)" % (stdout, exc)
            ) from exc
        if bindings is not None and not isinstance(bindings, dict):
            raise RestartInputError("results", "PortBindings is not a mapping: %.200r" % (stdout,))
        ports.extend(_host_ports(bindings))
    return ports
