"""playbooks/preflight.yml (the llmfleet.serving.preflight role) run by ansible-playbook on this machine against
three inventory hosts that are all this machine (connection local): an 8 x B200 host with two packed vLLM replicas
and two 4 x H100 hosts as one SGLang cell (head 127.0.0.1, worker 127.0.0.2). The fleet is the real planner's
(_fleet.plan_fleet), given to the playbook as llmfleet_fleet.

Real: /proc/net/tcp and /proc/*/fd (a listener this test opens is found and named), the free space of the
filesystem under pytest's tmp dir, the head's probe listener and the worker's TCP connect over loopback, the
run-once verdict failing every host. Test doubles (named so, at the edge): `docker` (prints a version, a
`docker info` without the daemon this test must not touch, no containers) and a no-op
`nvidia-container-runtime-hook`, put first on the PATH. No traffic leaves 127.0.0.0/8.
"""

import json
import os
import socket

import pytest
from helpers import gpu_fact_samples as samples
from helpers.inventory import fleet_inventory, local_host
from helpers.playbook import find_task, run_playbook
from helpers.preflight import FAKE_DOCKER, free_ports, preflight_doubles

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

pytestmark = pytest.mark.slow


@pytest.fixture()
def setup(tmp_path):
    bin_dir = preflight_doubles(tmp_path)
    hf = tmp_path / "hf"  # does not exist yet: the free space is read from its nearest parent, tmp_path
    http = free_ports(2)
    cell_http = free_ports(1)
    dist = free_ports(10)
    fleet = plan_fleet(
        {
            "b200-1": {
                "gpus": samples.b200x8(),
                "address": "127.0.0.1",
                "choices": {"engine": "vllm", "port": http, "hf_cache_dir": str(hf)},
            },
            "h100-1": {
                "gpus": samples.gpus("H100", 4),
                "address": "127.0.0.1",
                "cell": "pair",
                "dist_port": dist,
                "choices": {"port": cell_http, "hf_cache_dir": str(hf)},
            },
            "h100-2": {
                "gpus": samples.gpus("H100", 4),
                "address": "127.0.0.2",
                "cell": "pair",
                "dist_port": dist,
                "choices": {"port": cell_http, "hf_cache_dir": str(hf)},
            },
        },
        ["b200-1", "h100-1", "h100-2"],
    )
    # The weights are small here so that pytest's tmp filesystem holds them: the disk case asks for a huge build.
    for entry in fleet["hosts"].values():
        for instance in entry["instances"]:
            instance["weights_size_gb"] = 0.001
    return {"tmp": tmp_path, "bin": bin_dir, "fleet": fleet, "http": http, "dist": dist}


def run_preflight(setup, host_vars=None, *extra):
    tmp = setup["tmp"]
    hosts = {}
    for name in setup["fleet"]["hosts"]:
        defaults = {
            "preflight_gpus": samples.b200x8() if name.startswith("b200") else samples.gpus("H100", 4),
            "preflight_reach_timeout": 4,
            "preflight_disk_headroom_gb": 0,
        }
        hosts[name] = local_host(**dict(defaults, **(host_vars or {}).get(name, {})))
    (tmp / "fleet.json").write_text(json.dumps({"llmfleet_fleet": setup["fleet"]}))
    return run_playbook(
        "playbooks/preflight.yml",
        fleet_inventory(hosts),
        "-e",
        "@" + str(tmp / "fleet.json"),
        *extra,
        workdir=tmp,
        path=[setup["bin"]],
        timeout=180,
    )


def task(output, name_part):
    return find_task(output, name_part)["hosts"]


def verdict(proc, output):
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
    failed = task(output, "Fail the play for every host")
    # One verdict, judged once, fails every host of the play (so no later play touches any of them); the first
    # host carries the list, the others point at it.
    assert all(s["failures"] == 1 for s in output["stats"].values()) and len(output["stats"]) == 3, output["stats"]
    lines = failed["b200-1"]["msg"]
    for host in ("h100-1", "h100-2"):
        assert failed[host]["msg"] == (
            "preflight found %d problem(s) in the fleet, listed on b200-1; nothing was changed" % len(lines)
        )
    assert all(s["changed"] == 0 for s in output["stats"].values())
    return lines


@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_a_ready_fleet_passes_and_the_worker_reaches_the_head(setup, check):
    proc, out = run_preflight(setup, None, *(["--check"] if check else []))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    connect = task(out, "Connect from each worker")["h100-2"]["connect"]
    assert connect["connected"] is True and (connect["host"], connect["port"]) == ("127.0.0.1", setup["dist"])
    listened = task(out, "Collect the head's listener")["h100-1"]["listen"]
    assert listened["bound"] is True and listened["connections"] == 1 and listened["peers"] == ["127.0.0.1"]
    gathered = task(out, "Read the runtime")["b200-1"]
    assert gathered["runtime"]["version"] == "27.3.1" and gathered["changed"] is False
    assert gathered["weights"][0]["checked_path"] == str(setup["tmp"])
    summary = task(out, "Show what each host has")["h100-2"]["msg"]
    assert "head 127.0.0.1:%d reached" % setup["dist"] in summary
    assert task(out, "Fail the play for every host")["b200-1"]["skipped"] is True
    assert all(s["changed"] == 0 and s["failures"] == 0 for s in out["stats"].values()), out["stats"]


def test_a_port_taken_by_another_process_fails_every_host(setup):
    holder = socket.socket()
    holder.bind(("127.0.0.1", setup["http"] + 1))
    holder.listen()
    try:
        proc, out = run_preflight(setup)
    finally:
        holder.close()
    with open("/proc/self/comm") as f:
        me = f.read().strip()
    assert verdict(proc, out) == [
        "b200-1: port %d (HTTP port of llmfleet-deepseek-1) is taken by %s (pid %d) on 127.0.0.1; stop that, or move "
        "serve_port / serve_dist_port (this host's instances claim %d-%d)"
        % (setup["http"] + 1, me, os.getpid(), setup["http"], setup["http"] + 1)
    ]


def test_not_enough_disk_for_the_build(setup):
    for instance in setup["fleet"]["hosts"]["b200-1"]["instances"]:
        instance["weights_size_gb"] = 10**9  # an exabyte: more than any test machine has
    proc, out = run_preflight(setup)
    msg = verdict(proc, out)
    assert len(msg) == 1
    assert msg[0].startswith(
        "b200-1: not enough free disk for the weights under %s: the filesystem of %s has "
        % (setup["tmp"] / "hf", setup["tmp"])
    )
    assert "the download of deepseek-ai/DeepSeek-V4-Flash (1000000000 GB) needs 1000000000.0 GB; free " in msg[0]


def test_a_worker_that_cannot_reach_the_head(setup):
    # The head's probe listens on 127.0.0.3 only, so the worker's connect to the planned head address 127.0.0.1
    # finds nothing: what a firewall or a wrong head address does, kept on loopback.
    proc, out = run_preflight(setup, {"h100-1": {"preflight_listen_address": "127.0.0.3"}})
    msg = verdict(proc, out)
    assert len(msg) == 1
    assert msg[0].startswith(
        "h100-2: cannot open a TCP connection to the head h100-1 of cell pair at 127.0.0.1:%d (connection refused "
        "(ECONNREFUSED), " % setup["dist"]
    )
    assert msg[0].endswith(
        "; open TCP %d-%d from h100-2 to h100-1 (firewall, security group), or give h100-1 an address the workers "
        "route to (its ansible_host / fleet address), and check serve_fabric_interface"
        % (setup["dist"], setup["dist"] + 9)
    )
    listened = task(out, "Collect the head's listener")["h100-1"]["listen"]
    assert listened["bound"] is True and listened["connections"] == 0


def test_a_running_cell_is_not_probed_and_passes(setup):
    # A re-run: our head engine holds the cell's dist port (its container carries the serve role's label). The
    # worker must not open a connection to that live engine's rendezvous port (SGLang's TCPStore), and the head
    # starts no probe listener; the running cell shows that its ranks reach the head.
    docker = setup["bin"] / "docker"
    ps = json.dumps(
        {
            "ID": "a" * 64,
            "Names": "llmfleet-deepseek",
            "Ports": "127.0.0.1:%d->%d/tcp" % (setup["dist"], setup["dist"]),
            "Labels": "llmfleet.plan-hash=abc,llmfleet.restart-key=def",
        }
    )
    docker.write_text(FAKE_DOCKER.replace("  ps) ;;", "  ps) echo '%s' ;;" % ps))
    engine = socket.socket()
    engine.bind(("127.0.0.1", setup["dist"]))
    engine.listen()
    engine.setblocking(False)
    try:
        proc, out = run_preflight(setup)
        with pytest.raises(BlockingIOError):
            engine.accept()  # nobody connected to the "live engine"
    finally:
        engine.close()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert task(out, "Check that every worker of a multi-node cell reaches its head")["h100-2"]["skipped"] is True
    with pytest.raises(AssertionError):
        find_task(out, "Connect from each worker")
    summary = task(out, "Show what each host has")
    assert summary["h100-2"]["msg"].endswith(
        "head 127.0.0.1:%d not probed: the running cell (container llmfleet-deepseek on h100-1 holds the dist port) "
        "shows its ranks reach the head" % setup["dist"]
    )
    assert summary["h100-1"]["msg"].endswith(
        "listener not started: the running cell (container llmfleet-deepseek) holds the dist port"
    )
    assert task(out, "Fail the play for every host")["b200-1"]["skipped"] is True
