"""Pure parsing in module_utils/_gpu.py, over REAL nvidia-smi recordings and hand-written edge cases.

tests/fixtures/gpu/h200x4/ holds outputs recorded on a real 4 x H200 host (see its README.md).
"""

import pytest
from helpers.paths import FIXTURES as FIXTURES_ROOT

from ansible_collections.llmfleet.serving.plugins.module_utils import _gpu
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import GpuDetectionError

FIXTURES = FIXTURES_ROOT / "gpu"
H200X4 = FIXTURES / "h200x4"
# The field list the real query-gpu.csv was recorded with (tests/fixtures/gpu/h200x4/README.md).
RECORDED_FIELDS = (
    "index",
    "uuid",
    "name",
    "compute_cap",
    "memory.total",
    "memory.used",
    "driver_version",
    "pci.bus_id",
    "mig.mode.current",
    "persistence_mode",
    "power.limit",
    "clocks.max.sm",
)


def read(path):
    return path.read_text(encoding="utf-8")


def h200_facts():
    return _gpu.facts_from_nvidia_smi(
        read(H200X4 / "query-gpu.csv"), version_text=read(H200X4 / "misc.txt"), fields=RECORDED_FIELDS
    )


def test_real_h200x4_recording_gives_the_documented_fact():
    facts = h200_facts()
    assert {k: v for k, v in facts.items() if k != "devices"} == {
        "count": 4,
        "driver_version": "580.159.04",
        "cuda_version": "13.0",
        "product": "H200",
        "architecture": "hopper",
        "compute_capability": "9.0",
        "memory_mib": 143771,
        "fp8": True,
        "fp4": False,
        "uniform": True,
        "mig_enabled": False,
        "source": "nvidia-smi",
        "present": True,
    }
    assert facts["devices"][0] == {
        "index": 0,
        "uuid": "GPU-ac13bc7f-9832-14c9-b7fa-3cb0e6afade9",
        "name": "NVIDIA H200",
        "compute_capability": "9.0",
        "memory_mib": 143771,
        "pci_bus_id": "00000000:00:06.0",
        "mig_mode": "Disabled",
    }
    assert [d["pci_bus_id"] for d in facts["devices"]] == [
        "00000000:00:06.0",
        "00000000:00:07.0",
        "00000000:00:08.0",
        "00000000:00:09.0",
    ]
    assert _gpu.warnings_for(facts) == []


def test_real_query_with_header_and_units_is_read_the_same():
    fields = ("index", "name", "compute_cap", "memory.total", "driver_version")
    rows = _gpu.parse_query_csv(read(H200X4 / "query-gpu-header.csv"), fields)
    assert len(rows) == 4
    assert rows[3] == {
        "index": "3",
        "name": "NVIDIA H200",
        "compute_cap": "9.0",
        "memory.total": "143771 MiB",
        "driver_version": "580.159.04",
    }
    assert _gpu.devices_from_rows(rows)[3]["memory_mib"] == 143771


@pytest.mark.parametrize(
    "source,text",
    [
        ("nvidia-smi --version (real)", "misc.txt"),
        ("plain nvidia-smi header (real)", "nvidia-smi.txt"),
    ],
)
def test_cuda_version_read_from_real_version_and_table_outputs(source, text):
    assert _gpu.parse_cuda_version(read(H200X4 / text)) == "13.0", source


def test_cuda_version_falls_back_to_the_table_header_then_the_driver_table():
    query = read(H200X4 / "query-gpu.csv")
    old_version = "NVIDIA-SMI version  : 535.183.01\nNVML version        : 535.183\nDRIVER version      : 535.183.01\n"
    from_header = _gpu.facts_from_nvidia_smi(query, old_version, read(H200X4 / "nvidia-smi.txt"), RECORDED_FIELDS)
    assert from_header["cuda_version"] == "13.0"
    from_table = _gpu.facts_from_nvidia_smi(
        query.replace("580.159.04", "535.183.01"), old_version, None, RECORDED_FIELDS
    )
    assert from_table["driver_version"] == "535.183.01"
    assert from_table["cuda_version"] == "12.2"


@pytest.mark.parametrize(
    "driver,cuda",
    [
        ("580.159.04", "13.0"),
        ("575.57.08", "12.9"),
        ("570.133.20", "12.8"),
        ("535.183.01", "12.2"),
        ("470.256.02", "11.4"),
        ("590.44.01", "13.0"),
        ("418.226.00", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_driver_to_cuda_table(driver, cuda):
    assert _gpu.cuda_from_driver(driver) == cuda


@pytest.mark.parametrize(
    "name,product,cc,arch,fp8,fp4",
    [
        ("NVIDIA H200", "H200", "9.0", "hopper", True, False),
        ("NVIDIA H200 NVL", "H200", "9.0", "hopper", True, False),
        ("NVIDIA H100 80GB HBM3", "H100", "9.0", "hopper", True, False),
        ("NVIDIA H100 PCIe", "H100", "9.0", "hopper", True, False),
        ("NVIDIA H20", "H20", "9.0", "hopper", True, False),
        ("NVIDIA GH200 480GB", "GH200", "9.0", "hopper", True, False),
        ("NVIDIA B200", "B200", "10.0", "blackwell", True, True),
        ("NVIDIA GB200", "GB200", "10.0", "blackwell", True, True),
        ("NVIDIA B300 SXM6 AC", "B300", "10.3", "blackwell", True, True),
        ("NVIDIA GB300", "GB300", "10.3", "blackwell", True, True),
        ("NVIDIA A100-SXM4-80GB", "A100", "8.0", "ampere", False, False),
        ("NVIDIA A100 80GB PCIe", "A100", "8.0", "ampere", False, False),
        ("NVIDIA L40S", "L40S", "8.9", "ada", True, False),
        ("NVIDIA L20", "L20", "8.9", "ada", True, False),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTX PRO 6000", "12.0", "blackwell-consumer", True, True),
        ("NVIDIA GeForce RTX 5090", "RTX 5090", "12.0", "blackwell-consumer", True, True),
        ("NVIDIA GB10", "GB10", "12.1", "blackwell-consumer", True, True),
        ("Tesla V100-SXM2-16GB", "V100", "7.0", "unknown", False, False),
        ("NVIDIA Quantum Widget 9000", "Quantum Widget 9000", None, "unknown", False, False),
    ],
)
def test_product_table(name, product, cc, arch, fp8, fp4):
    assert _gpu.lookup_product(name) == (product, cc)
    assert (_gpu.architecture_for(cc), _gpu.has_fp8(cc), _gpu.has_fp4(cc)) == (arch, fp8, fp4)


def test_compute_cap_reported_by_nvidia_smi_wins_over_the_table():
    # A GPU the table places at 9.0, reported by the driver as 10.0: the driver is right.
    row = "0, GPU-1, NVIDIA H200, 10.0, 143771, 580.159.04, 00000000:00:06.0, Disabled"
    facts = _gpu.facts_from_nvidia_smi(row)
    assert (facts["compute_capability"], facts["architecture"], facts["fp4"]) == ("10.0", "blackwell", True)


def test_old_driver_without_compute_cap_uses_the_product_table():
    # Drivers before 510 reject compute_cap, so the query runs with LEGACY_QUERY_FIELDS.
    text = (
        "0, GPU-aaaa, NVIDIA A100-SXM4-80GB, 81920, 470.256.02, 00000000:07:00.0, Disabled\n"
        "1, GPU-bbbb, NVIDIA A100-SXM4-80GB, 81920, 470.256.02, 00000000:0F:00.0, Disabled\n"
    )
    facts = _gpu.facts_from_nvidia_smi(text, fields=_gpu.LEGACY_QUERY_FIELDS)
    assert (facts["count"], facts["product"], facts["compute_capability"], facts["architecture"]) == (
        2,
        "A100",
        "8.0",
        "ampere",
    )
    assert (facts["fp8"], facts["cuda_version"]) == (False, "11.4")


def test_unavailable_fields_become_null_not_text():
    text = "0, GPU-1, NVIDIA L40S, [N/A], [N/A], 580.95.05, 00000000:B1:00.0, [N/A]\n"
    facts = _gpu.facts_from_nvidia_smi(text)
    dev = facts["devices"][0]
    assert (dev["compute_capability"], dev["memory_mib"], dev["mig_mode"]) == ("8.9", None, None)
    assert (facts["memory_mib"], facts["mig_enabled"], facts["architecture"]) == (None, False, "ada")
    not_supported = _gpu.parse_query_csv(text.replace("[N/A], 580", "[Not Supported], 580"))
    assert not_supported[0]["memory.total"] is None


def test_mixed_host_is_a_fact_with_a_warning_naming_both_models():
    text = (
        "0, GPU-1, NVIDIA H100 PCIe, 9.0, 81559, 580.95.05, 00000000:17:00.0, Disabled\n"
        "1, GPU-2, NVIDIA L40S, 8.9, 46068, 580.95.05, 00000000:B1:00.0, [N/A]\n"
    )
    facts = _gpu.facts_from_nvidia_smi(text)
    assert (facts["uniform"], facts["product"], facts["memory_mib"], facts["fp8"]) == (False, "H100", 46068, True)
    (warning,) = _gpu.warnings_for(facts)
    assert "1 x NVIDIA H100 PCIe (GPU 0)" in warning and "1 x NVIDIA L40S (GPU 1)" in warning
    assert "serving_plan refuses" in warning


def test_fp_flags_hold_only_when_every_gpu_has_them():
    text = (
        "0, GPU-1, NVIDIA B200, 10.0, 183359, 580.95.05, 00000000:1B:00.0, Disabled\n"
        "1, GPU-2, NVIDIA H200, 9.0, 143771, 580.95.05, 00000000:43:00.0, Disabled\n"
    )
    facts = _gpu.facts_from_nvidia_smi(text)
    assert (facts["architecture"], facts["fp8"], facts["fp4"]) == ("blackwell", True, False)


def test_mig_enabled_is_a_fact_with_a_warning_saying_how_to_disable_it():
    text = (
        "0, GPU-1, NVIDIA H100 80GB HBM3, 9.0, 81559, 580.95.05, 00000000:1B:00.0, Enabled\n"
        "1, GPU-2, NVIDIA H100 80GB HBM3, 9.0, 81559, 580.95.05, 00000000:43:00.0, Disabled\n"
    )
    facts = _gpu.facts_from_nvidia_smi(text)
    assert facts["mig_enabled"] is True and facts["uniform"] is True
    (warning,) = _gpu.warnings_for(facts)
    assert "MIG mode is Enabled on GPU 0" in warning and "nvidia-smi -i 0 -mig 0" in warning


def test_empty_query_output_is_no_gpu():
    with pytest.raises(_gpu.NoGpuFound, match="listed no GPU.*required: false"):
        _gpu.facts_from_nvidia_smi("")


def test_line_with_wrong_field_count_names_the_line_and_the_query():
    with pytest.raises(GpuDetectionError) as exc:
        _gpu.facts_from_nvidia_smi("0, GPU-1, NVIDIA H200, 9.0\n")
    assert "'0, GPU-1, NVIDIA H200, 9.0'" in str(exc.value)
    assert "has 4 comma-separated values where the query asked for 8" in str(exc.value)


class FakeNvml:
    """TEST DOUBLE of the pynvml module, with the REAL values NVML gave on the H200 host (misc.txt)."""

    class NVMLError(Exception):
        pass

    def __init__(self, count=2, mig_supported=True, init_error=None):
        self.count, self.mig_supported, self.init_error, self.shut = count, mig_supported, init_error, False

    def nvmlInit(self):
        if self.init_error:
            raise self.NVMLError(self.init_error)

    def nvmlShutdown(self):
        self.shut = True

    def nvmlSystemGetDriverVersion(self):
        return "580.159.04"

    def nvmlSystemGetCudaDriverVersion(self):
        return 13000

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H200"  # older bindings return bytes

    def nvmlDeviceGetUUID(self, h):
        return "GPU-%d" % h

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return (9, 0)

    def nvmlDeviceGetMemoryInfo(self, h):
        return type("Mem", (), {"total": 150754820096})()

    def nvmlDeviceGetPciInfo(self, h):
        return type("Pci", (), {"busId": "00000000:00:%02X.0" % (6 + h)})()

    def nvmlDeviceGetMigMode(self, h):
        if not self.mig_supported:
            raise self.NVMLError("Not Supported")
        return (0, 0)


def test_nvml_reading_matches_the_nvidia_smi_fact_except_source():
    nvml = FakeNvml(count=4)
    facts = _gpu.facts_from_nvml(nvml)
    smi = h200_facts()
    assert facts["source"] == "nvml" and nvml.shut
    for key in (
        "count",
        "driver_version",
        "cuda_version",
        "product",
        "architecture",
        "compute_capability",
        "memory_mib",
        "fp8",
        "fp4",
        "uniform",
        "mig_enabled",
    ):
        assert facts[key] == smi[key], key
    assert facts["devices"][1]["pci_bus_id"] == "00000000:00:07.0"


def test_nvml_failures_are_clear():
    assert _gpu.facts_from_nvml(FakeNvml(count=1, mig_supported=False))["devices"][0]["mig_mode"] is None
    with pytest.raises(GpuDetectionError, match="NVML .pynvml. could not initialise: Driver Not Loaded.*lsmod"):
        _gpu.facts_from_nvml(FakeNvml(init_error="Driver Not Loaded"))
    with pytest.raises(_gpu.NoGpuFound, match="reports no GPU"):
        _gpu.facts_from_nvml(FakeNvml(count=0))
