"""host_preflight's readers: recorded /proc/net/tcp{,6}, CDI specs as nvidia-ctk writes them, docker/podman ps,
the Hugging Face cache layout, and the reachability probes on loopback."""

import json
import socket
import threading

import pytest
from helpers.paths import FIXTURES as FIXTURES_ROOT

from ansible_collections.llmfleet.serving.plugins.module_utils import _host_probe as probe

FIXTURES = FIXTURES_ROOT / "preflight"


def test_proc_net_tcp_lists_only_listening_sockets_with_their_addresses():
    found = probe.parse_proc_net_tcp((FIXTURES / "proc_net_tcp").read_text())
    assert [(s["address"], s["port"]) for s in found] == [("127.0.0.1", 18080), ("0.0.0.0", 2024), ("0.0.0.0", 18082)]
    # The established connection to 18080 (state 01, both directions) is no listener.
    assert [s["inode"] for s in found if s["port"] == 18080] == [1251899]


def test_proc_net_tcp6_decodes_ipv6_word_order():
    found = probe.parse_proc_net_tcp((FIXTURES / "proc_net_tcp6").read_text(), "ipv6")
    assert [(s["address"], s["port"], s["family"]) for s in found] == [("::", 18081, "ipv6"), ("::1", 18083, "ipv6")]


def test_socket_owners_names_this_process_for_a_live_listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    try:
        mine = [s for s in probe.read_listeners() if s["port"] == port]
        assert len(mine) == 1 and mine[0]["address"] == "127.0.0.1"
        owner = probe.socket_owners([mine[0]["inode"]])[mine[0]["inode"]]
        assert owner["pid"] == __import__("os").getpid()
        assert owner["process"]  # comm of this python process
    finally:
        sock.close()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0::/system.slice/docker-%s.scope\n" % ("ab" * 32), "ab" * 32),
        ("12:memory:/docker/%s\n" % ("cd" * 32), "cd" * 32),
        ("0::/machine.slice/libpod-%s.scope/container\n" % ("ef" * 32), "ef" * 32),
        ("0::/system.slice/sshd.service\n", None),
    ],
)
def test_container_id_from_cgroup(text, expected):
    assert probe.container_id_from_cgroup(text) == expected


def test_cdi_spec_yaml_names_only_the_devices_own_names():
    kind, names = probe.parse_cdi_spec((FIXTURES / "nvidia-cdi.yaml").read_text())
    assert kind == "nvidia.com/gpu"
    assert names == ["0", "1", "GPU-520e01f2-cf30-6396-abef-e8e9a5233b0e", "all"]


def test_cdi_spec_json_and_the_directory_reader(tmp_path):
    (tmp_path / "nvidia.json").write_text(
        json.dumps(
            {
                "cdiVersion": "0.5.0",
                "kind": "nvidia.com/gpu",
                "devices": [{"name": "0", "containerEdits": {}}, {"name": "all", "containerEdits": {}}],
            }
        )
    )
    (tmp_path / "other.yaml").write_text("kind: vendor.com/fpga\ndevices:\n- name: x\n")
    (tmp_path / "notes.txt").write_text("kind: nvidia.com/gpu\n")
    cdi = probe.read_cdi([str(tmp_path), str(tmp_path / "missing")])
    assert cdi["specs"] == [str(tmp_path / "nvidia.json")]
    assert cdi["devices"] == ["nvidia.com/gpu=0", "nvidia.com/gpu=all"]


def test_docker_ps_json_lines_and_podman_json_array():
    docker = "\n".join(
        json.dumps(x)
        for x in [
            {
                "ID": "a" * 64,
                "Names": "llmfleet-deepseek-0",
                "Labels": "llmfleet.plan-hash=123,llmfleet.restart-key=x",
                "Ports": "0.0.0.0:8000->8000/tcp, :::8000->8000/tcp",
            },
            {"ID": "b" * 64, "Names": "web", "Labels": "", "Ports": "0.0.0.0:9000-9001->9000-9001/tcp, 53/udp"},
        ]
    )
    found = probe.parse_docker_ps(docker)
    assert [(c["name"], c["host_ports"], "llmfleet.plan-hash" in c["labels"]) for c in found] == [
        ("llmfleet-deepseek-0", [8000], True),
        ("web", [9000, 9001], False),
    ]
    podman = json.dumps(
        [
            {
                "Id": "c" * 64,
                "Names": ["llmfleet-deepseek"],
                "Labels": {"llmfleet.plan-hash": "1"},
                "Ports": [{"host_ip": "", "container_port": 8000, "host_port": 8000, "range": 2, "protocol": "tcp"}],
            }
        ]
    )
    assert [(c["id"], c["name"], c["host_ports"]) for c in probe.parse_docker_ps(podman)] == [
        ("c" * 64, "llmfleet-deepseek", [8000, 8001])
    ]


def test_disk_status_uses_the_nearest_existing_parent_and_finds_a_complete_snapshot(tmp_path):
    cache = tmp_path / "hf"
    repo = cache / "hub" / "models--deepseek-ai--DeepSeek-V4-Flash"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "blobs" / "sha1").write_bytes(b"x" * 1000)
    (repo / "snapshots" / "abc123" / "model.safetensors").symlink_to(repo / "blobs" / "sha1")
    status = probe.disk_status(str(cache), ["deepseek-ai/DeepSeek-V4-Flash", "sgl-project/DeepSeek-V4-Flash-FP8"])
    assert status["exists"] and status["checked_path"] == str(cache) and status["free_bytes"] > 0
    assert [(m["present"], m["bytes"], m["snapshots"]) for m in status["models"]] == [
        (True, 1000, ["abc123"]),
        (False, 0, []),
    ]
    (repo / "blobs" / "sha2.incomplete").write_bytes(b"y" * 10)
    partial = probe.weights_status(str(cache), "deepseek-ai/DeepSeek-V4-Flash")
    assert (partial["present"], partial["bytes"], partial["incomplete"]) == (False, 1010, 1)
    missing = probe.disk_status(str(tmp_path / "no" / "such" / "dir"), [])
    assert missing["exists"] is False and missing["checked_path"] == str(tmp_path)


def test_connect_reaches_a_listener_and_reports_refused_within_its_timeout():
    lis = {}
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on port now

    def run():
        lis.update(probe.listen(port, timeout=5, address="127.0.0.1", expect=1))

    refused = probe.connect("127.0.0.1", port, timeout=0.6)
    assert refused["connected"] is False and refused["error"] == "connection refused (ECONNREFUSED)"
    assert refused["attempts"] >= 2 and refused["seconds"] < 2
    thread = threading.Thread(target=run)
    thread.start()
    reached = probe.connect("127.0.0.1", port, timeout=5)
    thread.join(10)
    assert reached["connected"] is True and reached["source_address"] == "127.0.0.1"
    # expect=1: the listener stopped at the first connection, not after its 5 s.
    assert lis["bound"] is True and lis["peers"] == ["127.0.0.1"] and lis["connections"] == 1
    assert lis["seconds"] < 4


def test_listen_does_not_take_a_port_that_is_held():
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    try:
        out = probe.listen(holder.getsockname()[1], timeout=1)
    finally:
        holder.close()
    assert out["bound"] is False and "EADDRINUSE" in out["error"] and out["seconds"] == 0.0
