#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Read, drain, disable or enable one HAProxy server (or read many) through the runtime API
version_added: "0.2.0"
description:
  - Talks to HAProxy's runtime API on the admin socket the C(llmfleet.serving.router) role configures
    (C(stats socket /run/haproxy/admin.sock mode 660 level admin)), with the standard library only (no C(socat)).
  - Reads the server's admin state (C(show servers state)) and its current sessions and queue (C(show stat)).
  - With O(servers) instead of O(server), reads many servers of the backend (or all of them) with the same two
    commands, once - what a rollout needs to know about a whole fleet in one call per router.
  - With O(state), sets it with C(set server BACKEND/SERVER state ready|drain|maint); nothing is sent when the
    server is already in that state (changed is false).
  - "C(drain): no new request goes to the server, the running ones (long streams) finish; C(maint): the server is
    out and its health checks stop; C(ready): back in rotation. With O(wait), the module then polls until the
    server has no session and no queued request, and fails after O(wait_timeout) seconds with the sessions still
    open - the drain step of a rolling redeploy."
author:
  - llmfleet founding engineers (@llmfleet)
options:
  socket:
    description: Path of HAProxy's admin socket on the router.
    type: path
    default: /run/haproxy/admin.sock
  backend:
    description: Backend name (the router role's C(router_backend_name)).
    type: str
    default: llmfleet_engines
  server:
    description:
      - Server name in the backend (the router role names them C(HOST-INSTANCE)).
      - One of O(server) and O(servers) is required.
    type: str
  servers:
    description:
      - Read these servers of the backend, in one read (no O(state), no O(wait)); an empty list reads every server
        of the backend. Returned in RV(servers).
    type: list
    elements: str
  state:
    description:
      - Admin state to set. Omitted, the module only reads the server.
    type: str
    choices: [ready, drain, maint]
  wait:
    description:
      - After setting O(state) (or, without it, right away), wait until the server's current sessions and queued
        requests are 0.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the sessions to reach 0 before failing; set it above the longest request.
    type: float
    default: 3600
  wait_interval:
    description: Seconds between two reads while waiting.
    type: float
    default: 1
  timeout:
    description: Seconds one runtime API command may take.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    description: Reads the server and reports whether the state would change; sends no C(set server) and does not wait.
  diff_mode:
    support: none
    description: The change is the admin state, in RV(previous) and RV(server).
notes:
  - Runs on the router host (C(delegate_to) the router), as root or a member of the C(haproxy) group.
seealso:
  - name: HAProxy management guide, the runtime API
    description: C(set server), C(show servers state), C(show stat).
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""

EXAMPLES = r"""
- name: Drain one engine in the router and wait for its streams to finish
  llmfleet.serving.haproxy_server:
    server: gpu-a-llmfleet-0
    state: drain
    wait: true
    wait_timeout: 1800
  delegate_to: "{{ groups['llmfleet_router'][0] }}"

- name: Put it back in rotation
  llmfleet.serving.haproxy_server:
    server: gpu-a-llmfleet-0
    state: ready
  delegate_to: "{{ groups['llmfleet_router'][0] }}"

- name: Read its sessions
  llmfleet.serving.haproxy_server:
    server: gpu-a-llmfleet-0
  register: srv
"""

RETURN = r"""
server:
  description: The server after the change (after the wait, with O(wait)).
  returned: with O(server)
  type: dict
  contains:
    admin_state: {description: "ready, drain or maint", type: str, sample: drain}
    operational_state: {description: "stopped, starting, running or stopping (health checks)", type: str}
    status: {description: "HAProxy's status word of C(show stat) (UP, DOWN, DRAIN, MAINT, ...)", type: str}
    sessions: {description: "Current sessions (requests in flight, streams included)", type: int}
    queued: {description: Requests queued for this server, type: int}
    sessions_total: {description: Sessions since HAProxy started, type: int}
    check_status: {description: Last health check's status, type: str}
    address: {description: "address:port", type: str}
servers:
  description: With O(servers) - each server as RV(server) describes it, in the order asked (by name when all).
  returned: when O(servers) is given
  type: list
  elements: dict
previous:
  description: The server before the change.
  returned: with O(server)
  type: dict
waited_s:
  description: Seconds spent waiting for the sessions to reach 0 (0 without O(wait)).
  returned: with O(server)
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmfleet.serving.plugins.module_utils._haproxy import (
    HaproxyError,
    server_status,
    servers_status,
    set_state,
    wait_sessions_zero,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", default="/run/haproxy/admin.sock"),
            backend=dict(type="str", default="llmfleet_engines"),
            server=dict(type="str"),
            servers=dict(type="list", elements="str"),
            state=dict(type="str", choices=["ready", "drain", "maint"]),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="float", default=3600),
            wait_interval=dict(type="float", default=1),
            timeout=dict(type="float", default=10),
        ),
        mutually_exclusive=[("server", "servers")],
        required_one_of=[("server", "servers")],
        supports_check_mode=True,
    )
    p = module.params
    for name in ("wait_timeout", "wait_interval", "timeout"):
        if p[name] <= 0:
            module.fail_json(msg="%s is %s: give a number of seconds above 0" % (name, p[name]))
    if p["servers"] is not None:
        if p["state"] is not None or p["wait"]:
            module.fail_json(
                msg="servers reads only (got state=%s, wait=%s): set a state or wait with server, one at a time"
                % (p["state"], p["wait"])
            )
        try:
            read = servers_status(p["socket"], p["backend"], p["servers"], p["timeout"])
        except HaproxyError as exc:
            module.fail_json(msg="%s: %s" % (p["backend"], exc.msg), **exc.details)
        module.exit_json(changed=False, servers=read)
    try:
        previous = server_status(p["socket"], p["backend"], p["server"], p["timeout"])
        changed = p["state"] is not None and previous["admin_state"] != p["state"]
        if module.check_mode:
            module.exit_json(changed=changed, server=previous, previous=previous, waited_s=0.0)
        if changed:
            set_state(p["socket"], p["backend"], p["server"], p["state"], current=previous, timeout=p["timeout"])
        waited = 0.0
        if p["wait"]:
            current, waited = wait_sessions_zero(
                p["socket"], p["backend"], p["server"], p["wait_timeout"], p["wait_interval"], p["timeout"]
            )
        else:
            current = server_status(p["socket"], p["backend"], p["server"], p["timeout"]) if changed else previous
    except HaproxyError as exc:
        module.fail_json(msg="%s/%s: %s" % (p["backend"], p["server"], exc.msg), **exc.details)
    module.exit_json(changed=changed, server=current, previous=previous, waited_s=round(waited, 3))


if __name__ == "__main__":
    main()
