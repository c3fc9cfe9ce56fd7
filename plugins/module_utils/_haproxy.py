# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API over its admin socket: a server's state and sessions, set ready/drain/maint, wait.

The router role's ``stats socket ... level admin`` answers one command per connection (non-interactive mode):
write the command and a newline, read until HAProxy closes. Standard library only (no socat on the router).
"""

from __future__ import annotations

import csv
import io
import socket
import time

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError

# srv_admin_state bits of `show servers state` (HAProxy's enum srv_admin, src/server-t.h).
ADMF_FMAINT = 0x01  # forced into maintenance (set server ... state maint)
ADMF_IMAINT = 0x02  # maintenance inherited from a tracked server
ADMF_CMAINT = 0x04  # `disabled` in the configuration
ADMF_FDRAIN = 0x08  # forced drain (set server ... state drain)
ADMF_IDRAIN = 0x10  # drain inherited from a tracked server
ADMF_RMAINT = 0x20  # address resolution failed
ADMF_HMAINT = 0x40  # FQDN set at runtime
MAINT_MASK = ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT
DRAIN_MASK = ADMF_FDRAIN | ADMF_IDRAIN
# srv_op_state of `show servers state`.
OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}
STATES = ("ready", "drain", "maint")


class HaproxyError(LlmfleetError):
    """The runtime API could not be reached, or refused a command."""


def command(socket_path, line, timeout=10.0):
    """Send one runtime API command and return HAProxy's whole answer (text)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(socket_path)
        except FileNotFoundError as exc:
            raise HaproxyError(
                "socket %s does not exist: is haproxy running with `stats socket %s level admin` "
                "(the router role's router_admin_socket)?" % (socket_path, socket_path)
            ) from exc
        except OSError as exc:
            raise HaproxyError(
                "cannot connect to the HAProxy admin socket %s: %s (run as root or as a member "
                "of the haproxy group; is haproxy running?)" % (socket_path, exc)
            ) from exc
        sock.sendall(line.encode("utf-8") + b"\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except socket.timeout as exc:
        raise HaproxyError("HAProxy did not answer %r on %s within %s s" % (line, socket_path, timeout)) from exc
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def parse_stat(text):
    """`show stat` CSV -> list of dicts (pxname, svname, scur, qcur, status, ...)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise HaproxyError("unexpected `show stat` answer: %r" % text[:200])
    body = "\n".join([lines[0][2:]] + [ln for ln in lines[1:] if ln.strip()])
    return list(csv.DictReader(io.StringIO(body)))


def parse_servers_state(text):
    """`show servers state` -> list of dicts keyed by the header line's field names."""
    header, rows = None, []
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].split()
            continue
        if header is None or not line.strip() or line.strip() == "1":
            continue
        values = line.split()
        rows.append(dict(zip(header, values)))
    if header is None:
        raise HaproxyError("unexpected `show servers state` answer: %r" % text[:200])
    return rows


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def admin_state(bits):
    """ready / drain / maint from srv_admin_state (maintenance wins over drain, as in HAProxy)."""
    if bits & MAINT_MASK:
        return "maint"
    if bits & DRAIN_MASK:
        return "drain"
    return "ready"


def servers_status(socket_path, backend, servers, timeout=10.0):
    """server_status for each of ``servers`` (names; None or empty: every server of the backend), in that order,
    from one `show servers state BACKEND` and one `show stat`: a backend read once, not once per server."""
    states = parse_servers_state(command(socket_path, "show servers state %s" % backend, timeout))
    by_name = {}
    for row in states:
        if row.get("be_name") == backend:
            by_name.setdefault(row.get("srv_name"), row)
    if not by_name:
        raise HaproxyError("backend %r has no servers or does not exist on %s" % (backend, socket_path))
    wanted = list(servers) if servers else sorted(by_name)
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise HaproxyError(
            "backend %r has no server %s; its servers: %s"
            % (backend, ", ".join(repr(n) for n in unknown), ", ".join(sorted(by_name)))
        )
    stats = {}
    for row in parse_stat(command(socket_path, "show stat", timeout)):
        if row.get("pxname") == backend:
            stats.setdefault(row.get("svname"), row)
    out = []
    for name in wanted:
        answer, stat = by_name[name], stats.get(name) or {}
        bits = _int(answer.get("srv_admin_state"))
        out.append(
            {
                "backend": backend,
                "server": name,
                "admin_state": admin_state(bits),
                "admin_state_bits": bits,
                "operational_state": OP_STATES.get(_int(answer.get("srv_op_state"), -1), "unknown"),
                "status": stat.get("status", ""),
                "sessions": _int(stat.get("scur")),
                "queued": _int(stat.get("qcur")),
                "sessions_total": _int(stat.get("stot")),
                "check_status": stat.get("check_status", ""),
                "address": "%s:%s" % (answer.get("srv_addr", ""), answer.get("srv_port", "")),
            }
        )
    return out


def server_status(socket_path, backend, server, timeout=10.0):
    """The server's admin state (ready/drain/maint), HAProxy's status word, and its current sessions."""
    return servers_status(socket_path, backend, [server], timeout)[0]


def set_state(socket_path, backend, server, state, current=None, timeout=10.0):
    """Set the server's admin state; returns True when a command was sent (False when already there)."""
    if state not in STATES:
        raise HaproxyError("state must be one of %s, got %r" % (", ".join(STATES), state))
    current = current or server_status(socket_path, backend, server, timeout)
    if current["admin_state"] == state:
        return False
    if state == "drain" and current["admin_state"] == "maint":
        # `state drain` adds the drain flag but leaves maintenance set: leave maintenance in the same
        # command line (one CLI session, so no request is routed between the two).
        line = "set server %s/%s state ready; set server %s/%s state drain" % (backend, server, backend, server)
    else:
        line = "set server %s/%s state %s" % (backend, server, state)
    answer = command(socket_path, line, timeout).strip()
    # A successful `set server` answers nothing; anything else is HAProxy's refusal ("No such server.", ...).
    if answer:
        raise HaproxyError("HAProxy refused %r: %s" % (line, answer))
    return True


def wait_sessions_zero(
    socket_path, backend, server, wait_timeout, interval=1.0, timeout=10.0, clock=time.monotonic, sleep=time.sleep
):
    """Poll until the server has no current session and no queued request; returns (status, seconds waited).
    Raises HaproxyError with the sessions still open when ``wait_timeout`` passes."""
    started = clock()
    while True:
        status = server_status(socket_path, backend, server, timeout)
        waited = clock() - started
        if status["sessions"] == 0 and status["queued"] == 0:
            return status, waited
        if waited >= wait_timeout:
            raise HaproxyError(
                "%s/%s still has %d session(s) and %d queued request(s) after %.0f s (wait_timeout): a stream "
                "is still running; raise wait_timeout above the longest request, or set the state to maint to "
                "cut it" % (backend, server, status["sessions"], status["queued"], waited),
                status=status,
                waited_s=waited,
            )
        sleep(min(interval, max(0.0, wait_timeout - waited)) or interval)
