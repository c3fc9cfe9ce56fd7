"""llmfleet.serving.haproxy_server against a runtime-API double on a unix socket.

The double answers `show servers state`, `show stat` and `set server` in HAProxy 2.6's formats (one command line
per connection, `;`-separated commands, nothing on success, "No such server." otherwise), and keeps the admin
bits the way HAProxy does: `state drain` adds FDRAIN (maintenance stays), `state maint` adds FMAINT, `state ready`
clears both. The molecule scenario `router` runs the same module against the real HAProxy.
"""

import os
import socket
import tempfile
import threading

import pytest
from helpers.module_runner import run_module

from ansible_collections.llmfleet.serving.plugins.module_utils import _haproxy
from ansible_collections.llmfleet.serving.plugins.modules import haproxy_server

STATE_HEADER = (
    "be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
)
STAT_HEADER = (
    "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,"
    "status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,"
    "type,rate,rate_lim,rate_max,check_status"
)


class FakeHaproxy:
    def __init__(self, servers):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "admin.sock")
        self.servers = {name: {"admin": 0, "scur": 0, "qcur": 0, "stot": 0} for name in servers}
        self.commands = []
        self.sessions_script = []  # scur values returned by successive `show stat`
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _peer = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                out = [self.answer(c.strip()) for c in data.decode().strip().split(";")]
                conn.sendall("".join(out).encode())

    def answer(self, cmd):
        self.commands.append(cmd)
        words = cmd.split()
        if cmd.startswith("show servers state"):
            be = words[3] if len(words) > 3 else "llmfleet_engines"
            if be != "llmfleet_engines":
                return "Can't find backend.\n"
            rows = ["1", "# " + STATE_HEADER]
            for i, (name, s) in enumerate(self.servers.items(), 1):
                rows.append(
                    "3 llmfleet_engines %d %s 10.0.0.%d 2 %d 1 1 7 6 3 4 6 0 0 0 - 8000 - 0 0 - - 0"
                    % (i, name, i, s["admin"])
                )
            return "\n".join(rows) + "\n\n"
        if cmd == "show stat":
            if self.sessions_script:
                value = self.sessions_script.pop(0)
                for s in self.servers.values():
                    s["scur"] = value
            rows = ["# " + STAT_HEADER, "llmfleet,FRONTEND,,,0,1,4096,3,,,,,,,,,,OPEN" + "," * 19]
            for name, s in self.servers.items():
                status = "MAINT" if s["admin"] & 1 else ("DRAIN" if s["admin"] & 8 else "UP")
                rows.append(
                    "llmfleet_engines,%s,%d,0,%d,2,,%d,0,0,,0,,0,0,0,0,%s,1,1,0,0,0,7,0,,1,3,1,,%d,,2,0,,2,L7OK"
                    % (name, s["qcur"], s["scur"], s["stot"], status, s["stot"])
                )
            return "\n".join(rows) + "\n\n"
        if cmd.startswith("set server "):
            be, _sep, srv = words[2].partition("/")
            if be != "llmfleet_engines" or srv not in self.servers:
                return "No such server.\n\n"
            s = self.servers[srv]
            state = words[4]
            if state == "ready":
                s["admin"] &= ~(1 | 8)
            elif state == "drain":
                s["admin"] |= 8
            elif state == "maint":
                s["admin"] |= 1
            return "\n"
        return "Unknown command.\n\n"

    def close(self):
        self.sock.close()


@pytest.fixture
def haproxy():
    fake = FakeHaproxy(["gpu-a-llmfleet-0", "gpu-b-llmfleet-0"])
    yield fake
    fake.close()


def args(fake, **kw):
    base = {"socket": fake.path, "server": "gpu-a-llmfleet-0"}
    base.update(kw)
    return base


def test_read_only_reports_state_and_sessions(haproxy):
    haproxy.servers["gpu-a-llmfleet-0"].update(scur=3, stot=40)
    result = run_module(haproxy_server, args(haproxy))
    assert result["changed"] is False
    assert result["server"]["admin_state"] == "ready"
    assert result["server"]["sessions"] == 3 and result["server"]["sessions_total"] == 40
    assert result["server"]["status"] == "UP" and result["server"]["operational_state"] == "running"
    assert not [c for c in haproxy.commands if c.startswith("set ")]


def test_drain_then_again_is_unchanged(haproxy):
    first = run_module(haproxy_server, args(haproxy, state="drain"))
    assert first["changed"] is True and first["server"]["admin_state"] == "drain"
    assert first["previous"]["admin_state"] == "ready"
    assert "set server llmfleet_engines/gpu-a-llmfleet-0 state drain" in haproxy.commands
    sent = len(haproxy.commands)
    second = run_module(haproxy_server, args(haproxy, state="drain"))
    assert second["changed"] is False
    assert not [c for c in haproxy.commands[sent:] if c.startswith("set ")]
    # the other server is untouched
    assert haproxy.servers["gpu-b-llmfleet-0"]["admin"] == 0


def test_check_mode_sends_no_set(haproxy):
    result = run_module(haproxy_server, args(haproxy, state="maint"), check_mode=True)
    assert result["changed"] is True
    assert haproxy.servers["gpu-a-llmfleet-0"]["admin"] == 0
    assert not [c for c in haproxy.commands if c.startswith("set ")]


def test_maint_then_ready(haproxy):
    assert run_module(haproxy_server, args(haproxy, state="maint"))["server"]["admin_state"] == "maint"
    result = run_module(haproxy_server, args(haproxy, state="ready"))
    assert result["changed"] is True and result["server"]["admin_state"] == "ready"
    assert result["server"]["status"] == "UP"


def test_drain_from_maint_leaves_maintenance(haproxy):
    haproxy.servers["gpu-a-llmfleet-0"]["admin"] = 1
    result = run_module(haproxy_server, args(haproxy, state="drain"))
    assert result["server"]["admin_state"] == "drain"
    assert haproxy.servers["gpu-a-llmfleet-0"]["admin"] == 8


def test_wait_until_sessions_reach_zero(haproxy):
    haproxy.sessions_script = [2, 2, 1, 0]
    result = run_module(haproxy_server, args(haproxy, state="drain", wait=True, wait_interval=0.01, wait_timeout=5))
    assert result["server"]["sessions"] == 0
    assert result["previous"]["sessions"] == 2
    assert len([c for c in haproxy.commands if c == "show stat"]) == 4


def test_wait_timeout_fails_with_open_sessions(haproxy):
    haproxy.servers["gpu-a-llmfleet-0"]["scur"] = 1
    result = run_module(
        haproxy_server,
        args(haproxy, state="drain", wait=True, wait_interval=0.05, wait_timeout=0.2),
        expect_failure=True,
    )
    assert "still has 1 session(s)" in result["msg"] and "wait_timeout" in result["msg"]
    # the drain itself happened: the rollout's failure handling decides what comes next
    assert haproxy.servers["gpu-a-llmfleet-0"]["admin"] == 8


def test_unknown_server_lists_the_known_ones(haproxy):
    result = run_module(haproxy_server, args(haproxy, server="gpu-z", state="drain"), expect_failure=True)
    assert "has no server 'gpu-z'" in result["msg"]
    assert "gpu-a-llmfleet-0, gpu-b-llmfleet-0" in result["msg"]


def test_missing_socket_says_what_to_check(tmp_path):
    result = run_module(haproxy_server, {"socket": str(tmp_path / "nope.sock"), "server": "x"}, expect_failure=True)
    assert "does not exist" in result["msg"] and "router_admin_socket" in result["msg"]


def test_bad_timeout_refused(haproxy):
    result = run_module(haproxy_server, args(haproxy, wait_timeout=0), expect_failure=True)
    assert "wait_timeout is 0.0" in result["msg"]


def test_refusal_from_haproxy_is_reported(haproxy, monkeypatch):
    monkeypatch.setattr(
        _haproxy,
        "command",
        lambda path, line, timeout=10: (
            "Permission denied\n" if line.startswith("set ") else FakeHaproxy.answer(haproxy, line)
        ),
    )
    result = run_module(haproxy_server, args(haproxy, state="maint"), expect_failure=True)
    assert (
        "HAProxy refused 'set server llmfleet_engines/gpu-a-llmfleet-0 state maint': Permission denied" in result["msg"]
    )


def test_admin_bits():
    assert _haproxy.admin_state(0) == "ready"
    assert _haproxy.admin_state(0x08) == "drain"
    assert _haproxy.admin_state(0x09) == "maint"
    assert _haproxy.admin_state(0x04) == "maint"


def test_many_servers_are_read_with_one_read_of_the_backend(haproxy):
    haproxy.servers["gpu-b-llmfleet-0"].update(admin=8, scur=2)
    every = run_module(haproxy_server, {"socket": haproxy.path, "servers": []})
    assert every["changed"] is False
    assert [(s["server"], s["admin_state"], s["status"], s["sessions"]) for s in every["servers"]] == [
        ("gpu-a-llmfleet-0", "ready", "UP", 0),
        ("gpu-b-llmfleet-0", "drain", "DRAIN", 2),
    ]
    # One `show servers state` and one `show stat`, whatever the number of servers.
    assert haproxy.commands == ["show servers state llmfleet_engines", "show stat"]
    asked = run_module(haproxy_server, {"socket": haproxy.path, "servers": ["gpu-b-llmfleet-0"]})
    assert [s["server"] for s in asked["servers"]] == ["gpu-b-llmfleet-0"]
    assert asked["servers"][0] == every["servers"][1]


def test_many_servers_read_only_and_name_the_unknown_ones(haproxy):
    unknown = run_module(
        haproxy_server, {"socket": haproxy.path, "servers": ["gpu-z", "gpu-a-llmfleet-0"]}, expect_failure=True
    )
    assert unknown["msg"] == (
        "llmfleet_engines: backend 'llmfleet_engines' has no server 'gpu-z'; its servers: gpu-a-llmfleet-0, "
        "gpu-b-llmfleet-0"
    )
    refused = run_module(haproxy_server, {"socket": haproxy.path, "servers": [], "state": "drain"}, expect_failure=True)
    assert refused["msg"].startswith("servers reads only (got state=drain, wait=False)")
    assert not [c for c in haproxy.commands if c.startswith("set ")]
