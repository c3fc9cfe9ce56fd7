# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling redeploy's decisions (playbooks/rollout.yml), kept out of Jinja so they are unit-tested:

- ``instance_changes``: which instances of one host the new plan restarts (so they are drained first), and why;
- ``drain_check``: whether draining a batch still leaves ``rollout_min_healthy`` servers in service;
- ``router_states`` and ``host_settled``: what an interrupted rollout (Ctrl-C after a drain) left in the router, and
  whether a host has nothing left to do (a fast no-change path must not skip a host whose server is drained).

A restart happens exactly when the serve role restarts: the restart key it would label the new container with
(plan hash + secrets digest, roles/serve/vars/main.yml) differs from the running container's label, or the
container does not run.
"""

from __future__ import annotations

from ansible_collections.llmfleet.serving.plugins.module_utils._container_args import stop_timeouts
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import show
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import HASHED_KEYS
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_diff import plan_changes
from ansible_collections.llmfleet.serving.plugins.module_utils._router import server_name


class RolloutError(LlmfleetError):
    """The rollout's inputs are unusable, or a batch would leave too few servers in service."""


def _mapping(value, option, what):
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise RolloutError("%s must be a mapping of %s, got %s" % (option, what, show(value)))
    return value


# Worst admin state first: a server drained on one router and ready on another is drained.
_ADMIN_ORDER = {"maint": 0, "drain": 1, "ready": 2}


def router_states(results):
    """HAProxy server name -> admin state (ready, drain or maint) across every router, the worst one (maint, then
    drain): ``results`` is a list of haproxy_server results of a loop over ``[router, server]`` pairs (or dicts
    ``{server, admin_state}``). Skipped or failed reads are left out (the server's state is then unknown)."""
    if results is None or results == "":
        return {}
    if isinstance(results, dict) and "results" in results:
        results = results["results"]
    if not isinstance(results, list):
        raise RolloutError("the router's servers must be a list of haproxy_server results, got %s" % show(results))
    out = {}
    for r in results:
        if not isinstance(r, dict) or r.get("skipped") or r.get("failed"):
            continue
        s = r.get("server") if isinstance(r.get("server"), dict) else r
        name, state = s.get("server"), s.get("admin_state")
        if not name or state not in _ADMIN_ORDER:
            continue
        if name not in out or _ADMIN_ORDER[state] < _ADMIN_ORDER[out[name]]:
            out[name] = state
    return out


def host_settled(changes):
    """True when the rollout has nothing to do on a host: no instance to restart and no server to put back in
    service. A host whose plan is unchanged but whose server an interrupted rollout left drained is NOT settled:
    a fast path that skips unchanged hosts must use this rule (or at least ``router_states``), not the plan hash."""
    if not isinstance(changes, list):
        raise RolloutError("host_settled takes the rollout_changes list, got %s" % show(changes))
    return not any(c.get("change") or c.get("enable") for c in changes if isinstance(c, dict))


def instance_changes(instances, host, restart_keys, running=None, recorded_plans=None, problems=None, router=None):
    """One entry per planned instance of ``host``, in plan order:

    ``{instance, engine, shutdown_timeout, stop_timeout, drain_too_long, server, serves_http, port, change, drain,
    enable, router_state, reason, changes}``. ``change`` is
    true when the serve role
    will (re)start it: not running, or running from another restart key. ``reason`` says which of: a new
    instance, a stopped one, a changed plan (``changes`` lists ``key: before -> after`` from the recorded plan),
    or changed secrets (same plan hash). ``server`` is its HAProxy server name (the router role's naming).

    ``restart_keys``: container name -> the restart key the serve role computes for the new plan;
    ``running``: container name -> the running container's ``llmfleet.restart-key`` label ("" or absent: not
    running); ``recorded_plans``: the ``llmfleet_plans`` local fact (container name -> plan it was deployed from);
    ``router``: HAProxy server name -> admin state in the router(s) (``router_states``; absent: ready).

    ``drain``: drain it in the router before the restart; ``enable``: put it back in service after (verified).
    A changed instance is drained, restarted and re-enabled. An unchanged one whose server is in DRAIN (a rollout
    interrupted after the drain, perhaps after the restart) is verified and put back in service: it already runs
    the planned restart key. A server in MAINT is the operator's: never drained nor re-enabled by the rollout (a
    changed instance there is restarted and stays in MAINT until the operator sets it ready).

    ``stop_timeout``: the seconds the serve role's unit gives the container to stop (the plan's ``stop_timeout_s``);
    ``drain_too_long``: the engine's own drain (``shutdown_timeout``) does not end before that, so a stop would
    kill running requests.
    """
    if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
        raise RolloutError(
            "the host's planned instances (llmfleet_fleet.hosts[%s].instances) must be a list of instance plans, "
            "got %s" % (host, show(instances))
        )
    restart_keys = _mapping(restart_keys, "restart_keys", "container name to restart key")
    running = _mapping(running, "running", "container name to the running container's restart key")
    recorded_plans = _mapping(recorded_plans, "recorded_plans (the llmfleet_plans local fact)", "plans")
    problems = _mapping(problems, "problems", "container name to the list of what is out of sync")
    router = _mapping(router, "router", "HAProxy server name to admin state (ready, drain, maint)")
    out = []
    for inst in instances:
        name = inst.get("name") or (inst.get("container") or {}).get("name")
        if not name:
            raise RolloutError("an instance of host %s has no name (container.name): %s" % (host, show(inst)))
        new_key = restart_keys.get(name)
        if not new_key:
            raise RolloutError(
                "no new restart key for instance %s of host %s (restart_keys has %s)"
                % (name, host, ", ".join(sorted(restart_keys)) or "none")
            )
        old_key = running.get(name) or ""
        previous = recorded_plans.get(name) or {}
        changes = []
        if not old_key:
            change = True
            reason = "stopped (no running container)" if previous else "new instance"
        elif old_key == new_key and problems.get(name):
            found = problems[name]
            change, reason = True, "out of sync: %s" % ("; ".join(found) if isinstance(found, list) else found)
        elif old_key == new_key:
            change, reason = False, "unchanged"
        else:
            change = True
            if previous and previous.get("hash") == inst.get("hash"):
                reason = "secrets changed (same plan %s)" % inst.get("hash")
            else:
                changes = (
                    [c["summary"] for c in plan_changes(dict(previous), dict(inst), HASHED_KEYS)] if previous else []
                )
                reason = "plan changed (%s -> %s)" % (previous.get("hash", "unknown"), inst.get("hash"))
        serves_http = bool(inst.get("serves_http", True))
        server = server_name(host, name)
        state = router.get(server, "ready") if serves_http else None
        if state is not None and state not in _ADMIN_ORDER:
            raise RolloutError(
                "router state of server %s is %s: give ready, drain or maint (haproxy_server's admin_state)"
                % (server, show(state))
            )
        drain = enable = False
        if state == "maint":
            reason += "; left in MAINT in the router (an operator's: the rollout neither drains nor re-enables it)"
        elif serves_http and change:
            drain = enable = True
        elif state == "drain":
            enable = True
            reason = (
                "unchanged but DRAINED in the router (an interrupted rollout): verify it, then put it back in service"
            )
        drain_s = shutdown_timeout(inst)
        stop_s = _stop_timeout(inst, name, host)
        out.append(
            {
                "instance": name,
                "engine": inst.get("engine"),
                "shutdown_timeout": drain_s,
                "stop_timeout": stop_s,
                "drain_too_long": drain_s is not None and drain_s >= stop_s,
                "server": server,
                "serves_http": serves_http,
                "port": inst.get("port"),
                "change": change,
                "drain": drain,
                "enable": enable,
                "router_state": state,
                "reason": reason,
                "changes": changes,
            }
        )
    return out


def _stop_timeout(plan, name, host):
    """The plan's stop timeout as the serve role's unit uses it (_container_args.stop_timeouts: 60 for a plan
    from before stop_timeout_s)."""
    value = plan.get("stop_timeout_s")
    if isinstance(value, bool) or (value is not None and not isinstance(value, int)):
        raise RolloutError(
            "stop_timeout_s of instance %s of host %s is %s: the plan must give whole seconds (fleet_plan makes it)"
            % (name, host, show(value))
        )
    return stop_timeouts(plan)[0]


def shutdown_timeout(plan):
    """Seconds the engine lets running requests finish after SIGTERM, from the plan's command: vLLM
    ``--shutdown-timeout N`` (0 when absent: it aborts them), SGLang None (it waits without a limit of its own)."""
    if plan.get("engine") == "sglang":
        return None
    words = [str(w) for w in plan.get("command") or []]
    value = 0
    for i, word in enumerate(words):
        if word == "--shutdown-timeout" and i + 1 < len(words):
            value = words[i + 1]
        elif word.startswith("--shutdown-timeout="):
            value = word.split("=", 1)[1]
    try:
        return float(value)
    except ValueError:
        return 0.0


def _count(value, option, minimum):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number < minimum:
        raise RolloutError("%s is %s: give a whole number, %d or more" % (option, show(value), minimum))
    return number


def drain_check(servers, draining, min_healthy, option="rollout_min_healthy"):
    """Whether the batch may drain ``draining`` (HAProxy server names): ``servers`` is a list of
    ``{router, server, status, admin_state}``, or haproxy_server results of a loop over ``[router, server]`` pairs. A server is
    in service on a router when its status is UP and its admin state ready. The fewest in service left on any
    router after the drain must be ``min_healthy`` or more. Returns ``{ok, in_service, left, msg}``."""
    min_healthy = _count(min_healthy, option, 0)
    if not isinstance(servers, list):
        raise RolloutError("the router's servers must be a list of haproxy_server results, got %s" % show(servers))
    draining = sorted(set(draining or []))
    routers = {}
    for s in servers:
        if isinstance(s, dict) and isinstance(s.get("server"), dict) and isinstance(s.get("item"), (list, tuple)):
            # A haproxy_server result of a loop over [router, server name] pairs.
            s = dict(s["server"], router=s["item"][0])
        if not isinstance(s, dict) or "server" not in s:
            raise RolloutError("a router server entry needs router, server, status, admin_state: %s" % show(s))
        up = str(s.get("status", "")).startswith("UP") and s.get("admin_state", "ready") == "ready"
        routers.setdefault(s.get("router", ""), {})[s["server"]] = up
    if not routers:
        raise RolloutError("no router server was read: is the inventory group llmfleet_router empty?")
    total = max(len(v) for v in routers.values())
    if min_healthy > total:
        raise RolloutError(
            "%s is %d but the router has %d server(s) in all: no batch could ever be drained; give %d or less"
            % (option, min_healthy, total, max(total - 1, 0))
        )
    worst = None
    for router, state in sorted(routers.items()):
        unknown = [d for d in draining if d not in state]
        if unknown:
            raise RolloutError(
                "router %s has no server %s (its servers: %s): the router's configuration is older than the "
                "plan; run playbooks/router.yml first" % (router, ", ".join(unknown), ", ".join(sorted(state)))
            )
        in_service = sorted(name for name, up in state.items() if up)
        left = [name for name in in_service if name not in draining]
        if worst is None or len(left) < len(worst[2]):
            worst = (router, in_service, left)
    router, in_service, left = worst
    ok = len(left) >= min_healthy
    msg = "router %s: %d of %d server(s) in service (%s); draining %s leaves %d, %s %d" % (
        router or "?",
        len(in_service),
        total,
        ", ".join(in_service) or "none",
        ", ".join(draining) or "nothing",
        len(left),
        option,
        min_healthy,
    )
    if not ok:
        msg += (
            ": refused, nothing was drained or restarted in this batch. Bring the servers that are down back "
            "(show servers state on the router), lower %s, or roll out fewer hosts at once (rollout_batch)" % option
        )
    return {"ok": ok, "in_service": in_service, "left": left, "router": router, "msg": msg}


def previous_fleet(hosts):
    """The fleet plan a rollback restores: ``hosts`` is a list of ``[host, address, plans]`` where ``plans`` is
    what the rollout recorded before it changed the host (the llmfleet_plans fact then: container name -> plan).
    Returns ``{hosts: {host: {instances}}, endpoints, cells}`` shaped as llmfleet.serving.fleet_plan's, for the
    serve, verify and router roles. Multi-node cells are refused: their ranks restart together, across hosts."""
    out_hosts, endpoints = {}, []
    for entry in hosts or []:
        if not isinstance(entry, (list, tuple)) or len(entry) != 3:
            raise RolloutError("previous_fleet takes [host, address, plans] entries, got %s" % show(entry))
        host, address, plans = entry
        address = address or host  # no ansible_host: the inventory name, as the fleet planner does
        if not isinstance(plans, dict) or not plans:
            raise RolloutError(
                "rollout_rollback: no previous plan is recorded on %s (llmfleet_rollout_previous.fact): a rollout "
                "records it just before it changes a host; this host was not changed by one, so there is nothing to "
                "roll back to. Limit the rollback to the changed hosts (-e target=...) or deploy the plan you want."
                % host
            )
        instances = sorted(plans.values(), key=lambda p: (p.get("index", 0), p.get("name", "")))
        cells = sorted({p["cell"] for p in instances if p.get("cell")})
        if cells:
            raise RolloutError(
                "rollout_rollback: %s ran multi-node cell %s; a cell's ranks restart together across hosts, which "
                "a rollback of recorded plans does not do: deploy the previous inventory with playbooks/deploy.yml"
                % (host, ", ".join(cells))
            )
        out_hosts[host] = {"instances": instances}
        for p in instances:
            if p.get("serves_http", True):
                readiness = p.get("readiness") or {}
                endpoints.append(
                    {
                        "host": host,
                        "address": address,
                        "port": p.get("port"),
                        "instance": p.get("name") or (p.get("container") or {}).get("name"),
                        "engine": p.get("engine"),
                        "served_model_name": p.get("served_model_name"),
                        "health_path": readiness.get("health_path", "/health"),
                        "models_path": readiness.get("models_path", "/v1/models"),
                    }
                )
    if not out_hosts:
        raise RolloutError("rollout_rollback: no host to roll back (the play's hosts are empty)")
    return {"hosts": out_hosts, "endpoints": endpoints, "cells": {}, "reasons": ["rollback to the recorded plans"]}
