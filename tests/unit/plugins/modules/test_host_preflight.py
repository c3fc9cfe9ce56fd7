"""host_preflight in-process: one call gathers the runtime, toolkit, disk and the named listeners; check mode
reads the same; bad options are refused naming the option."""

import os
import socket

from helpers.module_runner import run_module

from ansible_collections.llmfleet.serving.plugins.modules import host_preflight


def test_one_call_reads_a_missing_runtime_the_disk_and_who_listens(tmp_path, monkeypatch):
    # An empty PATH and no system directories: the host has no docker and no toolkit.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(host_preflight, "_EXTRA_BIN_DIRS", [])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    args = {
        "runtime": "docker",
        "hf_cache_dirs": [str(tmp_path / "hf")],
        "models": ["org/model"],
        "ports": [port],
        "cdi_dirs": [str(tmp_path / "cdi")],
    }
    try:
        result = run_module(host_preflight, args)
        checked = run_module(host_preflight, args, check_mode=True)
    finally:
        sock.close()
    assert result["changed"] is False
    assert result["runtime"] == {"name": "docker", "found": False, "path": None, "version": None}
    assert set(result["toolkit"]["binaries"].values()) == {None}
    assert result["toolkit"]["cdi"]["specs"] == []
    assert result["weights"][0]["checked_path"] == str(tmp_path) and result["weights"][0]["free_bytes"] > 0
    assert result["weights"][0]["models"][0]["present"] is False
    assert [(x["port"], x["address"], x["pid"]) for x in result["listeners"]] == [(port, "127.0.0.1", os.getpid())]
    assert {k: checked[k] for k in ("runtime", "toolkit", "listeners")} == {
        k: result[k] for k in ("runtime", "toolkit", "listeners")
    }
    assert "connect" not in result and "listen" not in result


def test_bad_ports_and_timeouts_are_refused_naming_the_option():
    assert run_module(host_preflight, {"gather": False, "listen": {"port": 0}}, expect_failure=True)["msg"] == (
        "listen.port 0 is not a TCP port; use 1 to 65535"
    )
    assert (
        run_module(
            host_preflight,
            {"gather": False, "connect": {"host": "127.0.0.1", "port": 1, "timeout": 0}},
            expect_failure=True,
        )["msg"]
        == "connect.timeout 0.0 must be above 0 seconds"
    )
    assert run_module(host_preflight, {"ports": [70000]}, expect_failure=True)["msg"] == (
        "ports 70000 is not a TCP port; use 1 to 65535"
    )
