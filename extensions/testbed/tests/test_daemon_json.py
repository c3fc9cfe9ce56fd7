"""lib/daemon_json.py: how prepare-host.sh makes a test host's dockerd trust the testbed's plain-HTTP registry
(LLMFLEET_TESTBED_INSECURE_REGISTRIES). The file it prints is what prepare-host.sh compares byte for byte with the
host's /etc/docker/daemon.json: dockerd is restarted only when they differ, so a second run must print the same bytes."""

import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "lib" / "daemon_json.py"


def merge(current, *registries):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *registries], input=current, text=True, capture_output=True, check=False
    )


def test_a_host_without_daemon_json_gets_the_registry():
    out = merge("", "rollout-registry:5000")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"insecure-registries": ["rollout-registry:5000"]}


def test_a_second_run_prints_the_same_bytes_so_dockerd_is_not_restarted():
    first = merge("", "rollout-registry:5000", "other-registry:5001").stdout
    second = merge(first, "rollout-registry:5000", "other-registry:5001")
    assert second.returncode == 0 and second.stdout == first


def test_other_settings_and_registries_already_trusted_are_kept_in_order():
    current = json.dumps({"log-driver": "journald", "insecure-registries": ["old:5000"]})
    out = merge(current, "rollout-registry:5000", "old:5000", "rollout-registry:5000")
    assert json.loads(out.stdout) == {
        "log-driver": "journald",
        "insecure-registries": ["old:5000", "rollout-registry:5000"],
    }


@pytest.mark.parametrize("registry", ["rollout-registry", "http://rollout-registry:5000", "-bad:5000", "a b:1"])
def test_a_registry_that_is_not_host_port_is_refused_naming_the_variable(registry):
    out = merge("", registry)
    assert out.returncode == 2 and out.stdout == ""
    assert "LLMFLEET_TESTBED_INSECURE_REGISTRIES" in out.stderr and repr(registry) in out.stderr
    assert "HOST:PORT" in out.stderr


@pytest.mark.parametrize(
    "current, named",
    [("[1, 2]", "not a JSON object"), ('{"insecure-registries": "x:1"}', "not a list"), ("{oops", "testbed:")],
)
def test_a_daemon_json_it_cannot_merge_is_left_alone_with_the_reason(current, named):
    out = merge(current, "rollout-registry:5000")
    assert out.returncode == 2 and out.stdout == ""
    assert named in out.stderr
