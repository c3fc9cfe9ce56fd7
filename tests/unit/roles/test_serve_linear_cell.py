"""The serve role over a multi-node cell in a user's play with Ansible's default (linear) strategy (issue 11).

Under linear, a looped include runs host after host (each host's include differs). The role must start every
instance of every host before it waits for any: the cell head is ready only once every rank joined, so a head that
waited inside its own per-instance include would wait for a worker whose host had not started it yet, and time out.

The role runs here on two inventory hosts of this machine (connection local): node1 the head, node2 the worker of a
two-rank SGLang cell planned by the fleet planner. Test doubles stand in for systemd and docker (a unit "runs" once
started), and a small HTTP server stands in for the head: /health answers 503 until the worker's unit was started,
as the engine's head does until every rank joined.
"""

import json
import socket
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import gpu_fact_samples as samples
from helpers.playbook import run_playbook
from helpers.serve_role import DOUBLE_DIR, GPUS, KEY

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

pytestmark = pytest.mark.slow

# A packed host's replicas 0 and 1 as the planner names them (replica_name: replica 0 keeps the seed's name).
REPLICAS = ["llmfleet-deepseek", "llmfleet-deepseek-1"]

# A unit is running once `systemctl start/restart` was asked for it (a file in $LLMFLEET_FAKE_DIR).
FAKE_SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >> "$LLMFLEET_FAKE_DIR/calls.log"
unit=""; for a in "$@"; do unit="$a"; done
if [ -e "$LLMFLEET_FAKE_DIR/started-$unit" ]; then active=active; sub=running; else active=inactive; sub=dead; fi
for a in "$@"; do case "$a" in
  show) case " $* " in *" --value "*) echo "$sub"; exit 0;; esac
        printf 'Id=%s\\nNames=%s\\nLoadState=loaded\\nActiveState=%s\\nSubState=%s\\nUnitFileState=enabled\\n' \\
          "$unit" "$unit" "$active" "$sub"; exit 0;;
  start|restart) touch "$LLMFLEET_FAKE_DIR/started-$unit"; exit 0;;
  is-active) echo "$active"; [ "$active" = active ]; exit $?;;
  is-enabled) echo enabled; exit 0;;
  is-failed) exit 1;;
esac; done
exit 0
"""

# The role's JSON inspect: the container $LLMFLEET_FAKE_DIR/inspect-NAME.json describes, else none. Afterwards the
# container of a started unit runs.
FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$LLMFLEET_FAKE_DIR/calls.log"
name=""; for a in "$@"; do name="$a"; done
started="$LLMFLEET_FAKE_DIR/started-$name.service"
case "$*" in
  *PortBindings*) [ -e "$LLMFLEET_FAKE_DIR/inspect-$name.json" ] && { cat "$LLMFLEET_FAKE_DIR/inspect-$name.json"; exit 0; }
                  echo "Error: No such object: $name" >&2; exit 1;;
  *State.Status*) [ -e "$started" ] && { echo "running 0"; exit 0; }; echo "Error: No such object" >&2; exit 1;;
  *State.Running*) [ -e "$started" ] && { echo true; exit 0; }; echo "Error: No such object" >&2; exit 1;;
  logs*) exit 0;;
esac
exit 0
"""

FAKE_JOURNALCTL = "#!/bin/sh\necho 'no journal here'\n"

PLAY = """- name: A user's play (no strategy set)
  hosts: node1,node2
  gather_facts: false
  roles:
    - llmfleet.serving.serve
"""


def _write_exe(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stand_in(port, answer):
    """An HTTP stand-in on 127.0.0.1:``port``: a GET gets ``answer(path)`` -> (status, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            status, body = answer(self.path)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


MODELS = json.dumps({"object": "list", "data": [{"id": "deepseek"}]}).encode()


def _head_server(port, fake_dir):
    """The head's HTTP stand-in: healthy only once the worker's unit started (every rank joined)."""

    def answer(path):
        joined = (fake_dir / "started-lc-worker.service").exists()
        if path == "/health":
            return (200, b"") if joined else (503, b"waiting for rank 1/2")
        if path == "/v1/models" and joined:
            return 200, MODELS
        return 503, b"not ready"

    return _stand_in(port, answer)


def test_a_linear_play_starts_every_rank_before_the_head_waits(tmp_path):
    port = _free_port()
    fleet = plan_fleet(
        {
            name: {
                "gpus": samples.gpus("H100", 4),
                "address": address,
                "cell": "pair",
                "node_rank": rank,
                "choices": {"port": port, "container_name": container},
            }
            for name, rank, container, address in (
                ("node1", 0, "lc-head", "10.0.1.1"),
                ("node2", 1, "lc-worker", "10.0.1.2"),
            )
        }
    )
    assert [i["role"] for i in fleet["hosts"]["node1"]["instances"]] == ["head"]
    assert [i["role"] for i in fleet["hosts"]["node2"]["instances"]] == ["worker"]

    bin_dir, fake_dir = tmp_path / "bin", tmp_path / "fake"
    for folder in (bin_dir, fake_dir, tmp_path / "units"):
        folder.mkdir()
    _write_exe(bin_dir / "systemctl", FAKE_SYSTEMCTL)
    _write_exe(bin_dir / "docker", FAKE_DOCKER)
    _write_exe(bin_dir / "journalctl", FAKE_JOURNALCTL)
    (tmp_path / "play.yml").write_text(PLAY)
    hosts = {
        name: {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "serve_secrets_dir": str(tmp_path / name / "secrets"),
            "serve_fact_dir": str(tmp_path / name / "facts"),
            "serve_pull_images": False,
            "serve_api_key": KEY,
            # Long enough for the worker to start, short enough that a head waiting first fails the test quickly.
            "serve_ready_timeout": 20,
            "serve_ready_poll_interval": 1,
        }
        for name in ("node1", "node2")
    }
    extra = {
        "llmfleet_fleet": fleet,
        # Role vars: only extra vars override them. The unit directory and the container CLI of this machine.
        "__serve_unit_dirs": {"docker": str(tmp_path / "units"), "podman": str(tmp_path / "quadlets")},
        "__serve_cli_paths": {"docker": str(bin_dir / "docker"), "podman": str(bin_dir / "podman")},
    }
    server = _head_server(port, fake_dir)
    try:
        proc, out = run_playbook(
            tmp_path / "play.yml",
            {"all": {"hosts": hosts}},
            "-e",
            json.dumps(extra),
            workdir=tmp_path,
            env={
                "ANSIBLE_STRATEGY": "linear",
                "LLMFLEET_TESTBED_GPUS": str(GPUS),
                "LLMFLEET_PYTHON3": sys.executable,
                "LLMFLEET_FAKE_DIR": str(fake_dir),
            },
            path=[bin_dir, DOUBLE_DIR],
            timeout=300,
        )
    finally:
        server.shutdown()
        server.server_close()

    failures = [
        "%s: %s: %s" % (host, t["task"]["name"], str(result.get("msg", ""))[:600])
        for play in out["plays"]
        for t in play["tasks"]
        for host, result in t["hosts"].items()
        if result.get("failed") and result.get("failed_when_result") is not False
    ]
    assert proc.returncode == 0, failures
    stats = out["stats"]
    assert stats["node1"]["failures"] == 0 and stats["node2"]["failures"] == 0, stats
    # Both ranks were started; the head's wait passed (the stand-in answers only once the worker started).
    assert (fake_dir / "started-lc-head.service").exists()
    assert (fake_dir / "started-lc-worker.service").exists()
    calls = (fake_dir / "calls.log").read_text().splitlines()
    worker_start = next(i for i, c in enumerate(calls) if c.startswith("systemctl start lc-worker.service"))
    first_worker_wait = next(i for i, c in enumerate(calls) if c.startswith("systemctl is-active --quiet lc-worker"))
    assert worker_start < first_worker_wait
    # The wait facts the verify role reads: the head ready, its server (re)started by this run (a first deploy).
    ready = [
        t["hosts"]["node1"]
        for play in out["plays"]
        for t in play["tasks"]
        if t["task"]["name"].endswith("Record when the server became ready") and "node1" in t["hosts"]
    ]
    assert ready and ready[-1]["ansible_facts"]["llmfleet_serve"]["ready"] in (True, "True")
    serve = ready[-1]["ansible_facts"]["llmfleet_serve"]
    assert True in (serve["restarted"], serve["started"]), serve


def _replica_servers(ports, unit_dir, bad_port):
    """Stand-ins for two packed vLLM replicas: each healthy, except the one on ``bad_port`` while its unit file holds
    LLMFLEET_BAD (the new plan's env): that one never turns ready, the previous plan's unit serves."""

    def answer_for(port, unit):
        def answer(path):
            if port == bad_port and "LLMFLEET_BAD" in unit.read_text():
                return 503, b"loading forever"
            return (200, MODELS) if path == "/v1/models" else (200, b"")

        return answer

    return [
        _stand_in(port, answer_for(port, unit_dir / ("%s.service" % REPLICAS[index])))
        for index, port in enumerate(ports)
    ]


def _two_free_ports():
    for _attempt in range(50):
        port = _free_port()
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise AssertionError("no two consecutive free ports")


@pytest.mark.parametrize("bad", [0, 1], ids=["replica-0-fails", "replica-1-fails"])
def test_a_failed_replica_rolls_back_alone_and_the_others_keep_what_they_run(tmp_path, bad):
    """A host's standalone replicas are deployed and waited for one after the other. When replica 0 fails readiness,
    it is rolled back and replica 1 is not touched (it keeps serving its previous plan). When replica 1 fails, replica
    0 already runs the new plan: the rollback restores replica 1's own unit and its own entries in the local facts,
    and keeps replica 0's new plan (a whole-file restore of the facts would record a plan replica 0 no longer runs)."""
    port = _two_free_ports()
    bin_dir, fake_dir, unit_dir = tmp_path / "bin", tmp_path / "fake", tmp_path / "units"
    for folder in (bin_dir, fake_dir, unit_dir):
        folder.mkdir()
    _write_exe(bin_dir / "systemctl", FAKE_SYSTEMCTL)
    _write_exe(bin_dir / "docker", FAKE_DOCKER)
    _write_exe(bin_dir / "journalctl", FAKE_JOURNALCTL)
    (tmp_path / "play.yml").write_text(PLAY.replace("node1,node2", "node1"))
    facts = tmp_path / "facts"
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "serve_secrets_dir": str(tmp_path / "secrets"),
        "serve_fact_dir": str(facts),
        "serve_pull_images": False,
        "serve_api_key": KEY,
        "serve_ready_timeout": 5,
        "serve_ready_poll_interval": 1,
    }

    def deploy(env):
        fleet = plan_fleet(
            {
                "node1": {
                    "gpus": samples.b200x8(),
                    "address": "10.0.1.1",
                    "choices": {"engine": "vllm", "tensor_parallel_size": 4, "port": port, "env": env},
                }
            }
        )
        assert [i["container"]["name"] for i in fleet["hosts"]["node1"]["instances"]] == [
            "llmfleet-deepseek",
            "llmfleet-deepseek-1",
        ]
        extra = {
            "llmfleet_fleet": fleet,
            "__serve_unit_dirs": {"docker": str(unit_dir), "podman": str(tmp_path / "quadlets")},
            "__serve_cli_paths": {"docker": str(bin_dir / "docker"), "podman": str(bin_dir / "podman")},
        }
        return run_playbook(
            tmp_path / "play.yml",
            {"all": {"hosts": {"node1": host}}},
            "-e",
            json.dumps(extra),
            workdir=tmp_path,
            env={
                "LLMFLEET_TESTBED_GPUS": str(GPUS),
                "LLMFLEET_PYTHON3": sys.executable,
                "LLMFLEET_FAKE_DIR": str(fake_dir),
            },
            path=[bin_dir, DOUBLE_DIR],
            timeout=300,
        )

    # The replicas' stand-ins hold their ports as the containers do: the role's port check counts a port the running
    # container publishes as its own (an older restart key: each run restarts it).
    for index in (0, 1):
        (fake_dir / ("inspect-%s.json" % REPLICAS[index])).write_text(
            json.dumps(
                [
                    {
                        "State": {"Running": True},
                        "HostConfig": {"PortBindings": {"8000/tcp": [{"HostIp": "", "HostPort": str(port + index)}]}},
                        "Config": {"Labels": {"llmfleet.restart-key": "0" * 64}},
                    }
                ]
            )
        )
    servers = _replica_servers([port, port + 1], unit_dir, bad_port=port + bad)
    try:
        proc, _out = deploy({})
        assert proc.returncode == 0, proc.stdout[-3000:]
        first_plans = json.loads((facts / "llmfleet_plans.fact").read_text())
        proc, out = deploy({"LLMFLEET_BAD": "1"})
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()

    assert proc.returncode != 0
    failed = [
        result.get("msg", "")
        for play in out["plays"]
        for t in play["tasks"]
        if t["task"]["name"].endswith("Fail when the server did not come up")
        for result in t["hosts"].values()
        if result.get("failed")
    ]
    assert len(failed) == 1 and "ROLLBACK: previous plan" in failed[0] and "restored and ready" in failed[0], failed
    failed_name, other = REPLICAS[bad], REPLICAS[1 - bad]
    assert "%s: " % failed_name in failed[0] or failed_name in failed[0], failed
    plans = json.loads((facts / "llmfleet_plans.fact").read_text())
    # The failed replica runs its previous unit again, and the facts record its previous plan.
    assert "LLMFLEET_BAD" not in (unit_dir / ("%s.service" % failed_name)).read_text()
    assert plans[failed_name] == first_plans[failed_name]
    if bad == 0:
        # Replica 1 was never deployed with the new plan: its unit and its recorded plan are what it ran before.
        assert "LLMFLEET_BAD" not in (unit_dir / ("%s.service" % other)).read_text()
        assert plans[other] == first_plans[other]
    else:
        # Replica 0 was ready on the new plan before replica 1 was deployed: it keeps it, in its unit and the facts.
        assert "LLMFLEET_BAD" in (unit_dir / ("%s.service" % other)).read_text()
        assert plans[other]["env"].get("LLMFLEET_BAD") == "1"
    recorded = json.loads((facts / "llmfleet_serve.fact").read_text())
    assert [i["container"] for i in recorded["instances"]] == REPLICAS
    assert json.loads((facts / "llmfleet_plan.fact").read_text()) == plans[REPLICAS[0]]
