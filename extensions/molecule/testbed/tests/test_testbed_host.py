"""pytest-testinfra checks of the testbed's test hosts, run by verify.yml as
``pytest --hosts=docker://b200-node,docker://h100-node tests/test_testbed_host.py``.

verify.yml passes TESTBED_PLAN_DIR (holding plan-<host>.json, the plan serving_plan made for that host)
and TESTBED_GPUS_BY_HOST (JSON: host -> the GPU description it was given, e.g. b200x8).
"""

import json
import os
import pathlib
import shlex

import pytest

REPO = pathlib.Path(__file__).resolve().parents[4]


@pytest.fixture
def plan(host):
    path = pathlib.Path(os.environ["TESTBED_PLAN_DIR"]) / f"plan-{host.backend.hostname}.json"
    return json.loads(path.read_text())


def test_systemd_is_pid_1_and_the_system_is_running(host):
    assert host.process.get(pid=1).comm == "systemd"
    state = host.run("systemctl is-system-running --wait").stdout.strip()
    assert state == "running", host.run("systemctl --failed --no-pager").stdout


def test_dockerd_is_enabled_and_running(host):
    docker = host.service("docker")
    assert docker.is_enabled
    assert docker.is_running


def test_the_gpu_double_reports_the_hosts_gpu_kind(host):
    kind = json.loads(os.environ["TESTBED_GPUS_BY_HOST"])[host.backend.hostname]
    description = json.loads((REPO / "extensions" / "testbed" / "gpus" / f"{kind}.json").read_text())
    names = host.check_output("nvidia-smi --query-gpu=name --format=csv,noheader").splitlines()
    assert names == [gpu["name"] for gpu in description["gpus"]]
    assert host.file("/usr/local/bin/nvidia-smi").contains("TEST DOUBLE")


def test_one_container_runs_the_plans_image_argv_and_env(host, plan):
    ids = host.check_output("docker ps --quiet --no-trunc").split()
    assert len(ids) == 1, ids
    container = json.loads(host.check_output(f"docker inspect {ids[0]}"))[0]
    argv = [container["Path"], *container["Args"]]
    assert container["Config"]["Image"] == plan["image"]
    assert argv[len(argv) - len(plan["command"]) :] == plan["command"], shlex.join(argv)
    for key, value in plan["env"].items():
        assert f"{key}={value}" in container["Config"]["Env"]
    assert container["State"]["Running"] and container["RestartCount"] == 0


def test_port_8000_answers_with_the_plans_model(host, plan):
    assert host.socket(f"tcp://0.0.0.0:{plan['port']}").is_listening
    models = json.loads(host.check_output(f"curl -sf http://127.0.0.1:{plan['port']}/v1/models"))
    assert [model["id"] for model in models["data"]] == [plan["served_model_name"]] == ["deepseek"]
    # The server behind the real image name is the engine stand-in (TEST DOUBLE), and says so.
    version = json.loads(host.check_output(f"curl -sf http://127.0.0.1:{plan['port']}/version"))
    assert "emulator" in version
