"""REAL hardware evidence: nvidia-smi outputs and gpu_facts runs recorded on 1 x and 4 x H200 machines
(tests/fixtures/gpu/h200x1-device/, h200x4-device/; see their README.md)."""
import json
from pathlib import Path

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils import _gpu

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"


def read(directory, name):
    return (FIXTURES / directory / name).read_text(encoding="utf-8")


def module_output(directory, name):
    """The JSON that `ansible localhost -m llmfleet.serving.gpu_facts` printed on the real host, and its rc."""
    text = read(directory, name)
    body = text.split("localhost | SUCCESS => ", 1)[1]
    payload, rc_line = body.rsplit("\n}\n", 1)
    return json.loads(payload + "\n}"), rc_line.strip()


@pytest.mark.parametrize("directory,count", [("h200x1-device", 1), ("h200x4-device", 4)])
def test_real_device_recordings_parse_to_the_fact_the_module_reported_there(directory, count):
    facts = _gpu.facts_from_nvidia_smi(
        read(directory, "query.csv"), read(directory, "version.txt"), read(directory, "nvidia-smi.txt")
    )
    assert (facts["count"], facts["product"], facts["architecture"], facts["compute_capability"]) == (
        count, "H200", "hopper", "9.0")
    assert (facts["memory_mib"], facts["driver_version"], facts["cuda_version"]) == (143771, "580.159.04", "13.0")
    assert (facts["fp8"], facts["fp4"], facts["uniform"], facts["mig_enabled"]) == (True, False, True, False)
    assert len(read(directory, "nvidia-smi-L.txt").splitlines()) == count
    assert _gpu.parse_cuda_version(read(directory, "nvidia-smi.txt")) == "13.0"

    reported, rc = module_output(directory, "gpu_facts.txt")
    assert rc == "rc=0" and reported["changed"] is False
    assert reported["ansible_facts"]["llmfleet_gpus"] == facts
    checked, rc = module_output(directory, "gpu_facts-check.txt")
    assert rc == "rc=0" and checked["ansible_facts"]["llmfleet_gpus"] == facts


@pytest.mark.parametrize("directory", ["h200x1-device", "h200x4-device"])
def test_real_nvml_reading_agrees_with_nvidia_smi(directory):
    nvml = json.loads(read(directory, "nvml.json"))
    smi = _gpu.facts_from_nvidia_smi(read(directory, "query.csv"), read(directory, "version.txt"))
    assert nvml["source"] == "nvml"
    assert {k: v for k, v in nvml.items() if k != "source"} == {k: v for k, v in smi.items() if k != "source"}
