"""gpu_facts end to end in-process: its real subprocess path runs the TEST DOUBLE nvidia-smi
(extensions/testbed/bin/nvidia-smi) over the GPU descriptions in extensions/testbed/gpus/."""

import json
import os
import sys

import pytest
from ansible.module_utils.common import warnings as ansible_warnings
from helpers.module_runner import run_module
from helpers.paths import ROOT

from ansible_collections.llmfleet.serving.plugins.modules import gpu_facts

DOUBLE = str(ROOT / "extensions" / "testbed" / "bin" / "nvidia-smi")
GPUS = ROOT / "extensions" / "testbed" / "gpus"


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """Fresh Ansible warnings, and no pynvml, so only nvidia-smi (the double) is read. The double runs with
    this interpreter, so tests that narrow PATH still run it."""
    monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setenv("LLMFLEET_PYTHON3", sys.executable)


def host(monkeypatch, description, tmp_path=None):
    """Make the double answer as ``description``: a file name in extensions/testbed/gpus, or a dict
    (written to ``tmp_path``)."""
    if isinstance(description, dict):
        path = tmp_path / "gpus.json"
        path.write_text(json.dumps(description))
    else:
        path = GPUS / description
    monkeypatch.setenv("LLMFLEET_TESTBED_GPUS", str(path))


def facts_of(result):
    return result["ansible_facts"]["llmfleet_gpus"]


def warnings():
    return list(ansible_warnings.get_warning_messages())


def test_h200x8_through_the_double(monkeypatch):
    host(monkeypatch, "h200x8.json")
    result = run_module(gpu_facts, {"nvidia_smi": DOUBLE})
    facts = facts_of(result)
    assert result["changed"] is False
    assert (facts["count"], facts["product"], facts["architecture"], facts["compute_capability"]) == (
        8,
        "H200",
        "hopper",
        "9.0",
    )
    assert (facts["memory_mib"], facts["driver_version"], facts["cuda_version"]) == (143771, "580.159.04", "13.0")
    assert (facts["fp8"], facts["fp4"], facts["uniform"], facts["mig_enabled"]) == (True, False, True, False)
    assert (facts["source"], facts["present"]) == ("nvidia-smi", True)
    assert facts["devices"][7]["pci_bus_id"] == "00000000:00:0D.0"
    assert (
        result["msg"]
        == "8 x H200 (hopper, compute capability 9.0), driver 580.159.04, CUDA 13.0, read through nvidia-smi"
    )
    assert warnings() == []


@pytest.mark.parametrize(
    "description,product,arch,cc,memory,fp4",
    [
        ("b200x8.json", "B200", "blackwell", "10.0", 183359, True),
        ("h100x8.json", "H100", "hopper", "9.0", 81559, False),
        ("a100x8.json", "A100", "ampere", "8.0", 81920, False),
    ],
)
def test_constructed_hosts(monkeypatch, description, product, arch, cc, memory, fp4):
    host(monkeypatch, description)
    facts = facts_of(run_module(gpu_facts, {"nvidia_smi": DOUBLE}))
    assert (facts["count"], facts["product"], facts["architecture"]) == (8, product, arch)
    assert (facts["compute_capability"], facts["memory_mib"], facts["fp4"]) == (cc, memory, fp4)
    assert facts["driver_version"].startswith("580.") and facts["cuda_version"] == "13.0"


def test_constructed_h100x4_hosts_form_a_uniform_cell(monkeypatch):
    """Two 4 x H100 test hosts (gpus/h100x4.json) make one 8-GPU cell: same model and driver as h100x8."""
    host(monkeypatch, "h100x4.json")
    four = facts_of(run_module(gpu_facts, {"nvidia_smi": DOUBLE}))
    host(monkeypatch, "h100x8.json")
    eight = facts_of(run_module(gpu_facts, {"nvidia_smi": DOUBLE}))
    assert (four["count"], four["product"], four["architecture"], four["uniform"]) == (4, "H100", "hopper", True)
    assert [d["index"] for d in four["devices"]] == [0, 1, 2, 3]
    for key in ("product", "compute_capability", "memory_mib", "driver_version", "cuda_version", "fp8", "fp4"):
        assert four[key] == eight[key], key


def test_default_finds_nvidia_smi_on_path(monkeypatch, tmp_path):
    (tmp_path / "nvidia-smi").symlink_to(DOUBLE)
    monkeypatch.setenv("PATH", "%s%s%s" % (tmp_path, os.pathsep, os.environ["PATH"]))
    host(monkeypatch, "h100x8.json")
    assert facts_of(run_module(gpu_facts, {}))["product"] == "H100"


def test_check_mode_reads_the_same_facts(monkeypatch):
    host(monkeypatch, "b200x8.json")
    normal = run_module(gpu_facts, {"nvidia_smi": DOUBLE})
    checked = run_module(gpu_facts, {"nvidia_smi": DOUBLE}, check_mode=True)
    assert checked["changed"] is False
    assert facts_of(checked) == facts_of(normal)


def test_no_nvidia_smi_on_path_fails_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_module(gpu_facts, {}, expect_failure=True)
    assert "nvidia-smi was not found on PATH (%s)" % tmp_path in result["msg"]
    assert "pynvml is not importable" in result["msg"]
    assert "set the nvidia_smi option" in result["msg"] and "required: false" in result["msg"]


def test_no_nvidia_smi_with_required_false_is_an_absent_fact(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_module(gpu_facts, {"required": False})
    facts = facts_of(result)
    assert (facts["present"], facts["count"], facts["devices"], facts["source"]) == (False, 0, [], None)
    assert result["msg"].startswith("No GPU (required=false): nvidia-smi was not found on PATH")


def test_given_path_that_does_not_exist(monkeypatch, tmp_path):
    missing = str(tmp_path / "bin" / "nvidia-smi")
    result = run_module(gpu_facts, {"nvidia_smi": missing}, expect_failure=True)
    assert result["msg"].startswith("nvidia_smi=%s: no such file on this host" % missing)
    assert "command -v nvidia-smi" in result["msg"]
    assert facts_of(run_module(gpu_facts, {"nvidia_smi": missing, "required": False}))["present"] is False


def test_given_path_that_is_not_executable(tmp_path):
    plain = tmp_path / "nvidia-smi"
    plain.write_text("not a program")
    plain.chmod(0o644)
    result = run_module(gpu_facts, {"nvidia_smi": str(plain), "required": False}, expect_failure=True)
    assert "nvidia_smi=%s exists but is not an executable file" % plain in result["msg"]


@pytest.mark.parametrize("required", [True, False])
def test_driver_not_loaded_quotes_nvidia_smi_and_fails_even_when_not_required(monkeypatch, required):
    host(monkeypatch, "nodriver.json")
    result = run_module(gpu_facts, {"nvidia_smi": DOUBLE, "required": required}, expect_failure=True)
    msg = result["msg"]
    assert "exited with code 9 (the NVIDIA driver is not loaded)" in msg
    assert (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
        "latest NVIDIA driver is installed and running."
    ) in msg
    assert "lsmod | grep nvidia" in msg and "required: false does not skip this" in msg
    assert result["rc"] == 9 and result["cmd"][0] == DOUBLE


def test_zero_gpus(monkeypatch, tmp_path):
    host(monkeypatch, {"driver_version": "580.159.04", "cuda_version": "13.0", "gpus": []}, tmp_path)
    result = run_module(gpu_facts, {"nvidia_smi": DOUBLE}, expect_failure=True)
    assert "nvidia-smi ran but listed no GPU ('No devices were found')" in result["msg"]
    assert "lspci | grep -i nvidia" in result["msg"] and "set required: false" in result["msg"]
    facts = facts_of(run_module(gpu_facts, {"nvidia_smi": DOUBLE, "required": False}))
    assert (facts["present"], facts["count"]) == (False, 0)


def test_mixed_models_are_reported_and_warned_not_failed(monkeypatch):
    host(monkeypatch, "mixed.json")
    facts = facts_of(run_module(gpu_facts, {"nvidia_smi": DOUBLE}))
    assert (facts["uniform"], facts["count"], facts["product"], facts["memory_mib"]) == (False, 4, "H100", 46068)
    assert [d["mig_mode"] for d in facts["devices"]] == ["Disabled", "Disabled", None, None]
    (warning,) = warnings()
    assert "2 x NVIDIA H100 PCIe (GPU 0, 1); 2 x NVIDIA L40S (GPU 2, 3)" in warning


def test_mig_is_reported_and_warned_not_failed(monkeypatch):
    host(monkeypatch, "mig.json")
    facts = facts_of(run_module(gpu_facts, {"nvidia_smi": DOUBLE}))
    assert facts["mig_enabled"] is True
    assert [d["mig_mode"] for d in facts["devices"][:3]] == ["Enabled", "Enabled", "Disabled"]
    (warning,) = warnings()
    assert "MIG mode is Enabled on GPU 0, 1" in warning and "nvidia-smi -i 0,1 -mig 0" in warning


def test_old_driver_without_compute_cap_is_asked_again_and_uses_the_table(monkeypatch, tmp_path):
    desc = json.loads((GPUS / "a100x8.json").read_text())
    desc.update(driver_version="470.256.02", unsupported_fields=["compute_cap"])
    desc.pop("cuda_version")  # the double then prints "CUDA Version: N/A", so the driver table answers
    host(monkeypatch, desc, tmp_path)
    facts = facts_of(run_module(gpu_facts, {"nvidia_smi": DOUBLE}))
    assert (facts["compute_capability"], facts["architecture"], facts["fp8"]) == ("8.0", "ampere", False)
    assert (facts["driver_version"], facts["cuda_version"]) == ("470.256.02", "11.4")


def test_nvml_is_used_only_without_nvidia_smi(monkeypatch, tmp_path):
    from test_gpu_parse import FakeNvml  # the TEST DOUBLE of pynvml

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(count=2))
    monkeypatch.setenv("PATH", str(tmp_path))
    facts = facts_of(run_module(gpu_facts, {}))
    assert (facts["source"], facts["count"], facts["product"]) == ("nvml", 2, "H200")
    (tmp_path / "nvidia-smi").symlink_to(DOUBLE)
    host(monkeypatch, "b200x8.json")
    assert facts_of(run_module(gpu_facts, {}))["source"] == "nvidia-smi"
