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


def test_the_gpus_and_a_json_fact_in_the_same_call_as_gpu_facts_reads_them(tmp_path, monkeypatch):
    import json
    import sys

    from ansible.module_utils.common import warnings as ansible_warnings
    from helpers.paths import ROOT

    from ansible_collections.llmfleet.serving.plugins.modules import gpu_facts

    monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setenv("LLMFLEET_PYTHON3", sys.executable)
    monkeypatch.setenv("LLMFLEET_TESTBED_GPUS", str(ROOT / "extensions" / "testbed" / "gpus" / "h100x8.json"))
    (tmp_path / "nvidia-smi").symlink_to(ROOT / "extensions" / "testbed" / "bin" / "nvidia-smi")
    monkeypatch.setenv("PATH", "%s%s%s" % (tmp_path, os.pathsep, os.environ["PATH"]))
    fact = tmp_path / "llmfleet_weights.fact"
    fact.write_text(json.dumps({"builds": [{"model_id": "org/model", "verified": True}]}))
    args = {"gather": False, "gpus": True, "read_json": [str(fact), str(tmp_path / "missing.fact")]}
    result = run_module(host_preflight, args)
    assert result["changed"] is False
    # The same fact and message gpu_facts gives (its code, module_utils/_gpu.py).
    alone = run_module(gpu_facts, {})
    assert result["ansible_facts"] == alone["ansible_facts"]
    assert result["ansible_facts"]["llmfleet_gpus"]["product"] == "H100"
    assert result["gpus_msg"] == alone["msg"]
    assert result["read"] == {
        str(fact): {"builds": [{"model_id": "org/model", "verified": True}]},
        str(tmp_path / "missing.fact"): {},
    }
    assert "runtime" not in result and "listeners" not in result  # gather: false
    assert run_module(host_preflight, args, check_mode=True)["ansible_facts"] == result["ansible_facts"]
    # No nvidia-smi: the task fails with gpu_facts' own message.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    failed = run_module(host_preflight, {"gather": False, "gpus": True}, expect_failure=True)
    assert failed["msg"] == run_module(gpu_facts, {}, expect_failure=True)["msg"]
    assert "nvidia-smi was not found on PATH" in failed["msg"]


def test_a_wide_read_reports_every_listener_and_every_cached_model(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(host_preflight, "_EXTRA_BIN_DIRS", [])
    hub = tmp_path / "hf" / "hub"
    for repo in ("models--org--model", "models--deepseek-ai--DeepSeek-V4-Flash", "datasets--org--data"):
        (hub / repo / "snapshots" / ("c" * 40)).mkdir(parents=True)
        (hub / repo / "snapshots" / ("c" * 40) / "config.json").write_text("{}")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    try:
        narrow = run_module(host_preflight, {"hf_cache_dirs": [str(tmp_path / "hf")], "models": ["x/y"], "ports": []})
        wide = run_module(
            host_preflight,
            {"hf_cache_dirs": [str(tmp_path / "hf")], "models": ["x/y"], "all_models": True, "all_ports": True},
        )
    finally:
        sock.close()
    assert narrow["listeners"] == [] and [m["model_id"] for m in narrow["weights"][0]["models"]] == ["x/y"]
    # The asked model first, then every model repository in the cache (not the datasets), each with its status.
    models = wide["weights"][0]["models"]
    assert [(m["model_id"], m["present"]) for m in models] == [
        ("x/y", False),
        ("deepseek-ai/DeepSeek-V4-Flash", True),
        ("org/model", True),
    ]
    assert (port, os.getpid()) in [(x["port"], x["pid"]) for x in wide["listeners"]]
