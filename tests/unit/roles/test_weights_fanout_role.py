"""The weights role copies a build as a tree (weights_fanout), run by ansible-playbook on this machine.

Four "hosts" are this machine over connection local, each with its own cache directory and its own loopback
address (127.0.0.1-4), so each source's blob server (roles/weights/files/weights_serve.py) listens where only
that host's peers are told to look: a copy that succeeds from 127.0.0.2 came from host p1. The hub is the hub
double (extensions/hubdouble) on 127.0.0.1, and the seeder already holds the build, so no container runs.
systemd-run and systemctl are test doubles (tests/unit/roles/test_weights_fanout_role.py writes them) that start
the blob server in the background and stop it, and log each start, so the test sees which hosts served which wave.
The molecule scenario `weights` runs the same on three systemd test hosts with the real hf CLI.
"""

import json
import os
import socket
import stat
import sys

import pytest
from helpers.hub import REPO, running_hub, seed_cache
from helpers.playbook import run_playbook

from ansible_collections.llmfleet.serving.plugins.module_utils import _weights as w

pytestmark = pytest.mark.slow

HOSTS = {"seed": "127.0.0.1", "p1": "127.0.0.2", "p2": "127.0.0.3", "p3": "127.0.0.4"}

FAKE_SYSTEMD_RUN = """#!/bin/sh
# TEST DOUBLE of systemd-run: drop the --options, start the command in the background, record its pid.
while [ $# -gt 0 ]; do case "$1" in --*) shift ;; *) break ;; esac; done
echo "$*" >> "$FAKE_DIR/started"
setsid "$@" >/dev/null 2>&1 &
echo $! >> "$FAKE_DIR/pids"
"""

FAKE_SYSTEMCTL = """#!/bin/sh
# TEST DOUBLE of systemctl stop: stop every server the double started (all sources stop at the end of a wave).
[ "$1" = stop ] || exit 3
[ -f "$FAKE_DIR/pids" ] || exit 5
for pid in $(cat "$FAKE_DIR/pids"); do kill "$pid" 2>/dev/null; done
rm -f "$FAKE_DIR/pids"
echo "---" >> "$FAKE_DIR/started"
sleep 0.3
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fleet(tmp_path):
    with running_hub(256 * 1024) as (hub, repo, server):
        yield _fleet(tmp_path, hub, repo, server)


def _fleet(tmp_path, hub, repo, server):
    manifest = w.fetch_manifest(hub, REPO, "main")
    seed_cache(tmp_path / "seed" / "hf", manifest, repo, "main")

    fake = tmp_path / "bin"
    fake.mkdir()
    for name, text in (("systemd-run", FAKE_SYSTEMD_RUN), ("systemctl", FAKE_SYSTEMCTL)):
        (fake / name).write_text(text)
        (fake / name).chmod(stat.S_IRWXU)
    inventory = {
        "all": {
            "hosts": {
                host: {
                    "ansible_host": address,
                    "weights_builds": [
                        {"model_id": REPO, "revision": "main", "cache_dir": str(tmp_path / host / "hf"), "image": "x:1"}
                    ],
                    "weights_work_dir": str(tmp_path / host / "work"),
                    "weights_fact_dir": str(tmp_path / host / "facts"),
                }
                for host, address in HOSTS.items()
            },
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "weights_hf_endpoint": hub,
                "weights_seeder": "seed",
                "weights_serve_port": _free_port(),
                "weights_disk_headroom_gb": 0.001,
            },
        }
    }
    playbook = tmp_path / "weights.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  max_fail_percentage: 0\n"
        "  roles: [{role: llmfleet.serving.weights}]\n"
        "  tasks:\n    - {name: Keep the result, ansible.builtin.debug: {var: llmfleet_weights}}\n"
    )

    def play(*extra):
        return run_playbook(
            playbook, inventory, *extra, workdir=tmp_path, env={"FAKE_DIR": str(fake)}, path=(fake,), timeout=300
        )

    def run(*extra):
        proc, out = play(*extra)
        assert proc.returncode == 0, [
            (
                t["task"]["name"],
                h,
                "failed" if r.get("failed") else "skipped" if r.get("skipped") else "ok",
                r.get("msg", ""),
            )
            for t in out["plays"][0]["tasks"]
            for h, r in t["hosts"].items()
        ][-60:]
        kept = [t for t in out["plays"][0]["tasks"] if t["task"]["name"] == "Keep the result"][0]
        return {h: r["llmfleet_weights"]["builds"][0] for h, r in kept["hosts"].items()}, out

    return run, manifest, repo, tmp_path, fake, server, play


def _waves(fake):
    """The bind addresses of the blob servers started, per wave (the doubles log '---' at each wave's end)."""
    text = (fake / "started").read_text() if (fake / "started").exists() else ""
    waves, current = [], []
    for line in text.splitlines():
        if line == "---":
            if current:
                waves.append(sorted(current))
            current = []
        else:
            current.append([a.split("=", 1)[1] for a in line.split() if a.startswith("--bind=")][0])
    return waves


def test_peers_copy_in_waves_from_hosts_that_already_hold_the_build(fleet):
    run, manifest, repo, tmp_path, fake, server, _play = fleet
    builds, out = run("-e", "weights_fanout=1")
    size = sum(f["size"] for f in manifest["files"])
    # fanout 1 over seed, p1, p2, p3: wave 1 seed -> p1; wave 2 p1 -> p2 and seed -> p3 (peers before the seeder).
    got = {
        h: (b["source"], b["copied_from"], b["wave"], b["bytes_from_peers"], b["verified"]) for h, b in builds.items()
    }
    assert got == {
        "seed": ("present", "", 0, 0, True),
        "p1": ("peer", "seed", 1, size, True),
        "p2": ("peer", "p1", 2, size, True),
        "p3": ("peer", "seed", 2, size, True),
    }
    # Wave 1's only server was the seeder's; in wave 2 the seeder and p1 served, one peer each.
    assert _waves(fake) == [["127.0.0.1"], ["127.0.0.1", "127.0.0.2"]]
    # Wave 2 began after wave 1 was copied and verified.
    assert builds["p2"]["copy_window"][0] > builds["p1"]["copy_window"][1]
    # Each copy is the hub's bytes, and the hub served none of them (the seeder already had the build).
    for host in ("p1", "p2", "p3"):
        folder = w.repo_folder(str(tmp_path / host / "hf"), REPO)
        for entry in manifest["files"]:
            with open(os.path.join(folder, "snapshots", manifest["commit"], entry["path"]), "rb") as handle:
                assert handle.read() == repo.files[entry["path"]]["data"]
    assert server.stats.bytes_served == 0
    # The plan is printed, and the report names each peer's source and wave.
    plan = [t for t in out["plays"][0]["tasks"] if t["task"]["name"].endswith("Show the copy plan")][0]
    assert list(plan["hosts"].values())[0]["msg"] == (REPO + ": wave 1: p1 <- seed; wave 2: p2 <- p1, p3 <- seed")
    report = [t for t in out["plays"][0]["tasks"] if "Report per host" in t["task"]["name"]][0]
    lines = list(report["hosts"].values())[0]["msg"]
    assert any(line.startswith("p2 ") and "peers %d B from p1 (wave 2)" % size in line for line in lines), lines

    # A corrupt shard on p3 is found and copied again from a complete peer (p1), not the seeder or the hub.
    shard = [e for e in manifest["files"] if e["sha256"]][0]
    blob = os.path.join(w.repo_folder(str(tmp_path / "p3" / "hf"), REPO), "blobs", shard["blob"])
    data = bytearray(open(blob, "rb").read())
    data[100] ^= 0xFF
    with open(blob, "wb") as handle:
        handle.write(bytes(data))
    (fake / "started").unlink()
    fixed, out = run("-e", "weights_fanout=1")
    assert (fixed["p3"]["copied_from"], fixed["p3"]["wave"], fixed["p3"]["bytes_from_peers"]) == (
        "p1",
        1,
        shard["size"],
    )
    assert fixed["p3"]["verified"] and w.file_digest(blob, "sha256") == shard["sha256"]
    assert _waves(fake) == [["127.0.0.2"]]
    assert server.stats.bytes_served == 0
    # The complete hosts were only read: nothing changed on them.
    assert {h: fixed[h]["source"] for h in ("seed", "p1", "p2")} == dict.fromkeys(("seed", "p1", "p2"), "present")
    assert out["stats"]["p2"]["changed"] == 0


@pytest.mark.parametrize(
    "name, value",
    [
        ("weights_serve_address", "10.0.0.2\nHost: evil"),
        ("weights_serve_address", "../etc"),
        ("weights_serve_address", "--bind=0.0.0.0"),
        ("weights_serve_bind", "0.0.0.0 --port 1"),
        ("weights_seeder_address", "$(id)"),
        ("weights_seeder_address", "fe80::1%eth0"),
        ("weights_serve_bind", "seed.example.com\n"),
    ],
)
def test_a_hostile_blob_server_address_is_refused_before_anything_is_copied(fleet, name, value):
    run, manifest, repo, tmp_path, fake, server, play = fleet
    proc, out = play("-e", '{"%s": %s}' % (name, json.dumps(value)))
    assert proc.returncode != 0
    refused = [
        r["msg"]
        for t in out["plays"][0]["tasks"]
        if t["task"]["name"].endswith("Check the blob server addresses")
        for r in t["hosts"].values()
        if r.get("failed")
    ]
    assert len(refused) == 1 and "seed: %s is %s" % (name, json.dumps(value)) in refused[0], refused
    assert "give a host name" in refused[0] and "Nothing was downloaded or copied." in refused[0]
    # No blob server started, no peer holds a copy, the hub served nothing.
    assert not (fake / "started").exists()
    assert not any((tmp_path / host / "hf").exists() for host in ("p1", "p2", "p3"))
    assert server.stats.bytes_served == 0


def test_an_ipv6_seeder_address_is_bracketed_in_the_copy_url_and_served_on_ipv6(fleet):
    # The seeder's blob server is reached at ::1: it must listen on an IPv6 socket (--bind=::1) and the peers'
    # URL must read http://[::1]:PORT/blobs (unbracketed, the port would read as part of the address).
    run, manifest, repo, tmp_path, fake, server, _play = fleet
    builds, out = run("-e", "weights_fanout=3", "-e", "weights_seeder_address=::1")
    size = sum(f["size"] for f in manifest["files"])
    got = {h: (b["copied_from"], b["bytes_from_peers"], b["verified"]) for h, b in builds.items() if h != "seed"}
    assert got == dict.fromkeys(("p1", "p2", "p3"), ("seed", size, True))
    assert _waves(fake) == [["::1"]]
    assert server.stats.bytes_served == 0
