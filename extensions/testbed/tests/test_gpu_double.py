"""The TEST DOUBLE extensions/testbed/bin/nvidia-smi must answer like the real nvidia-smi it stands in for.

Its description tests/fixtures/gpu/h200x4/gpus.json is transcribed from the REAL recordings beside it;
from it the double must reproduce those recordings byte for byte.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils import _gpu

ROOT = Path(__file__).resolve().parents[3]
DOUBLE = ROOT / "extensions" / "testbed" / "bin" / "nvidia-smi"
GPUS = ROOT / "extensions" / "testbed" / "gpus"
H200X4 = ROOT / "tests" / "fixtures" / "gpu" / "h200x4"
RECORDED_QUERY = (
    "index,uuid,name,compute_cap,memory.total,memory.used,driver_version,pci.bus_id,"
    "mig.mode.current,persistence_mode,power.limit,clocks.max.sm"
)


def smi(description, *args):
    env = {"LLMFLEET_TESTBED_GPUS": str(description), "LLMFLEET_PYTHON3": sys.executable, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(DOUBLE), *args], env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout


@pytest.mark.parametrize(
    "args,recording",
    [
        ((), "nvidia-smi.txt"),
        (("-L",), "nvidia-smi-L.txt"),
        (("--query-gpu=" + RECORDED_QUERY, "--format=csv,noheader,nounits"), "query-gpu.csv"),
        (("--query-gpu=index,name,compute_cap,memory.total,driver_version", "--format=csv"), "query-gpu-header.csv"),
    ],
)
def test_double_reproduces_the_real_h200_recordings(args, recording):
    assert smi(H200X4 / "gpus.json", *args) == (0, (H200X4 / recording).read_text())


def test_double_version_matches_the_real_one():
    real = (H200X4 / "misc.txt").read_text().split("+ cat")[0].split("\n", 1)[1]
    assert smi(H200X4 / "gpus.json", "--version") == (0, real)


def test_unknown_field_fails_like_real_nvidia_smi():
    assert smi(GPUS / "h200x8.json", "--query-gpu=index,bogus.field", "--format=csv") == (
        2,
        'Field "bogus.field" is not a valid field to query.\n\n',
    )


def test_fields_units_and_gpu_selection():
    rc, out = smi(
        GPUS / "b200x8.json",
        "--query-gpu=index,memory.free,power.limit,clocks.max.sm,temperature.gpu",
        "--format=csv",
        "-i",
        "2,5",
    )
    assert rc == 0
    assert out.splitlines() == [
        "index, memory.free [MiB], power.limit [W], clocks.max.sm [MHz], temperature.gpu",
        "2, 183359 MiB, 1000.00 W, 1965 MHz, 32",
        "5, 183359 MiB, 1000.00 W, 1965 MHz, 31",
    ]


def test_failure_mode_and_no_devices(tmp_path):
    rc, out = smi(GPUS / "nodriver.json", "--query-gpu=index", "--format=csv")
    assert rc == 9 and out.startswith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
    empty = tmp_path / "none.json"
    empty.write_text(json.dumps({"driver_version": "580.159.04", "gpus": []}))
    assert smi(empty, "-L") == (6, "No devices were found\n")


@pytest.mark.parametrize("description", sorted(p.name for p in GPUS.glob("*.json")))
def test_every_description_says_where_it_comes_from_and_parses(description):
    desc = json.loads((GPUS / description).read_text())
    assert "REAL" in desc["_comment"] or "CONSTRUCTED" in desc["_comment"]
    if "fail" in desc:
        return
    rc, out = smi(GPUS / description, "--query-gpu=" + ",".join(_gpu.QUERY_FIELDS), "--format=csv,noheader,nounits")
    _rc, table = smi(GPUS / description)
    facts = _gpu.facts_from_nvidia_smi(out, smi_text=table)
    assert rc == 0 and facts["count"] == len(desc["gpus"]) and facts["cuda_version"] == desc["cuda_version"]
