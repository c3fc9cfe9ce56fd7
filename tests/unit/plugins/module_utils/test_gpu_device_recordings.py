"""REAL hardware evidence: nvidia-smi outputs and gpu_facts runs recorded on 1 x and 4 x H200 machines
(tests/fixtures/gpu/h200x1-device/, h200x4-device/; see their README.md)."""

import json

import pytest
from helpers.paths import FIXTURES as FIXTURES_ROOT

from ansible_collections.llmfleet.serving.plugins.module_utils import _gpu

FIXTURES = FIXTURES_ROOT / "gpu"


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
        count,
        "H200",
        "hopper",
        "9.0",
    )
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


def test_the_planner_refuses_a_single_real_h200_as_it_did_on_the_host():
    """plan.txt: gpu_facts + serving_plan (engine auto) run on the real 1 x H200 host. The planner, given the
    facts parsed from that host's recorded nvidia-smi output, refuses with the same message (weights do not fit,
    with the numbers and what would work)."""
    from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
    from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan

    facts = _gpu.facts_from_nvidia_smi(
        read("h200x1-device", "query.csv"),
        read("h200x1-device", "version.txt"),
        read("h200x1-device", "nvidia-smi.txt"),
    )
    recorded = read("h200x1-device", "plan.txt")
    on_host = json.loads(recorded.split("fatal: [localhost]: FAILED! => ", 1)[1].split("\n", 1)[0])["msg"]
    with pytest.raises(PlanError) as refused:
        build_plan(facts, engine="auto")
    assert str(refused.value) == on_host
    assert on_host.startswith("weights do not fit: FP8 build sgl-project/DeepSeek-V4-Flash-FP8 284 GB")
    assert "at least 3 such GPUs" in on_host and "rc=0" in recorded
