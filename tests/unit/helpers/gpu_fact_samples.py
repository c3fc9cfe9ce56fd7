"""``llmfleet_gpus`` fact dicts for planner tests (test doubles at the GPU edge).

The H200 values (name, 143771 MiB, driver 580.159.04, CUDA 13.0, UUIDs, PCI ids) come from the real
4 x H200 recording in ../shared/fixtures/gpu/h200x4/ (query-gpu.csv). Every other GPU here is
CONSTRUCTED from public specifications (REFERENCE.md section 1): names, memory in MiB and driver
versions are plausible, not recorded.
"""

# product -> (nvidia-smi name, compute capability, MiB per GPU, architecture, fp8, fp4)
SPECS = {
    "H200": ("NVIDIA H200", "9.0", 143771, "hopper", True, False),  # real recording
    "H100": ("NVIDIA H100 80GB HBM3", "9.0", 81559, "hopper", True, False),
    "H20": ("NVIDIA H20", "9.0", 97871, "hopper", True, False),
    "B200": ("NVIDIA B200", "10.0", 183359, "blackwell", True, True),
    "GB200": ("NVIDIA GB200", "10.0", 189471, "blackwell", True, True),
    "B300": ("NVIDIA B300 SXM6 AC", "10.3", 275040, "blackwell", True, True),
    "GB300": ("NVIDIA GB300", "10.3", 284208, "blackwell", True, True),
    "A100": ("NVIDIA A100-SXM4-80GB", "8.0", 81920, "ampere", False, False),
    "L40S": ("NVIDIA L40S", "8.9", 46068, "ada", True, False),
    "L20": ("NVIDIA L20", "8.9", 46068, "ada", True, False),
    "RTX PRO 6000": ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "12.0", 97887, "blackwell-consumer", True, True),
}

_H200_UUIDS = [
    "GPU-ac13bc7f-9832-14c9-b7fa-3cb0e6afade9",
    "GPU-f0f62536-6e3d-e496-8152-4f4ec204c0c3",
    "GPU-96b19954-6fcd-d611-e9c3-5dd06278cb2a",
    "GPU-a2421065-432b-bc84-51da-3bc908e7bd6c",
]


def _device(index, product, mig_mode="Disabled"):
    name, cc, mib, _arch, _fp8, _fp4 = SPECS[product]
    uuid = (
        _H200_UUIDS[index]
        if product == "H200" and index < len(_H200_UUIDS)
        else "GPU-00000000-0000-0000-0000-%012d" % index
    )
    return {
        "index": index,
        "uuid": uuid,
        "name": name,
        "compute_capability": cc,
        "memory_mib": mib,
        "pci_bus_id": "00000000:00:%02X.0" % (6 + index),
        "mig_mode": mig_mode,
    }


def gpus(kind="B200", count=8, driver="580.159.04", cuda="13.0", **overrides):
    """The fact gpu_facts would set for ``count`` identical GPUs of ``kind`` (a SPECS key);
    ``overrides`` replace top-level keys (e.g. product="H100 80GB HBM3")."""
    _name, cc, mib, arch, fp8, fp4 = SPECS[kind]
    fact = {
        "count": count,
        "driver_version": driver,
        "cuda_version": cuda,
        "product": kind,
        "architecture": arch,
        "compute_capability": cc,
        "memory_mib": mib,
        "fp8": fp8,
        "fp4": fp4,
        "uniform": True,
        "mig_enabled": False,
        "source": "nvidia-smi",
        "present": True,
        "devices": [_device(i, kind) for i in range(count)],
    }
    fact.update(overrides)
    return fact


def b200x8(**kw):
    return gpus("B200", 8, **kw)


def h100x8(**kw):
    return gpus("H100", 8, **kw)


def h200x8(**kw):
    return gpus("H200", 8, **kw)


def h200x4(**kw):
    """The real recorded host: 4 x H200, driver 580.159.04, CUDA 13.0."""
    return gpus("H200", 4, **kw)


def b300x8(**kw):
    return gpus("B300", 8, **kw)


def gb200x4(**kw):
    """One GB200 NVL72 compute tray: 4 Blackwell GPUs on a Grace (aarch64) host."""
    return gpus("GB200", 4, **kw)


def mixed():
    """6 x H200 and 2 x H100 on one host: gpu_facts reports the first GPU and uniform: false."""
    fact = gpus("H200", 8)
    fact["devices"] = [_device(i, "H200") for i in range(6)] + [_device(i, "H100") for i in range(6, 8)]
    fact["memory_mib"] = SPECS["H100"][2]
    fact["uniform"] = False
    return fact


def mig(product="H100", count=8, enabled=(0, 3)):
    fact = gpus(product, count)
    fact["devices"] = [_device(i, product, "Enabled" if i in enabled else "Disabled") for i in range(count)]
    fact["mig_enabled"] = True
    return fact


def absent():
    """gpu_facts with required: false on a host without GPUs or nvidia-smi."""
    return {
        "count": 0,
        "driver_version": None,
        "cuda_version": None,
        "product": None,
        "architecture": None,
        "compute_capability": None,
        "memory_mib": None,
        "fp8": False,
        "fp4": False,
        "uniform": True,
        "mig_enabled": False,
        "source": "nvidia-smi",
        "present": False,
        "devices": [],
    }
