# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a host's NVIDIA GPUs into the ``ansible_facts.llmfleet_gpus`` fact.

Standard library only: this runs on GPU hosts, which have no extra Python packages.
Parsing and fact building are pure functions over text (unit tests feed them real recordings);
``detect`` is the one place that runs commands, through a ``run(argv) -> (rc, stdout, stderr)``
callable the module supplies, so the subprocess path is exercised unchanged against the test double.

Facts versus failures (the planner refuses with context; gpu_facts only fails when it cannot read):
  * no nvidia-smi / no GPU listed: failure with ``required=true``; ``present: false`` with ``required=false``.
  * nvidia-smi present but failing (driver not loaded, GPU fell off the bus): always a failure, because a
    GPU host with a broken driver must not pass for a host without GPUs.
  * GPUs of different models, MIG enabled, unknown or unsupported products: facts (``uniform``,
    ``mig_enabled``, ``architecture``) plus warnings; ``serving_plan`` decides what it cannot serve.
"""

from __future__ import annotations

import os
import re

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import GpuDetectionError

# The fields gpu_facts asks for, in order (docs/architecture.md, REFERENCE.md section 1).
QUERY_FIELDS = (
    "index",
    "uuid",
    "name",
    "compute_cap",
    "memory.total",
    "driver_version",
    "pci.bus_id",
    "mig.mode.current",
)
# Drivers before 510 do not know compute_cap; the product table supplies it then.
LEGACY_QUERY_FIELDS = tuple(f for f in QUERY_FIELDS if f != "compute_cap")

# What nvidia-smi prints for a value the GPU or driver cannot give.
_UNAVAILABLE = ("[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "")
NO_DEVICES_TEXT = "No devices were found"

# nvidia-smi(1) "RETURN VALUE", so a failure says what its exit code means.
EXIT_CODE_MEANINGS = {
    2: "a requested parameter or flag is invalid",
    3: "the requested operation is not available on the target device",
    4: "the current user lacks permission to access the device or perform the operation",
    6: "the query was unsuccessful",
    8: "the external power cables of a GPU are not attached",
    9: "the NVIDIA driver is not loaded",
    10: "the NVIDIA kernel detected an interrupt issue with a GPU",
    12: "the NVML shared library could not be found or loaded",
    13: "the local NVML does not implement a function this query needs",
    14: "the infoROM is corrupted",
    15: "the GPU has fallen off the bus or has otherwise become inaccessible",
    255: "another error or an internal driver error",
}

# Highest CUDA version each driver branch supports (CUDA toolkit release notes, "minimum required
# driver" table). Used only when nvidia-smi does not print the CUDA version itself; a driver newer
# than the last branch listed gets that branch's CUDA, a lower bound.
DRIVER_CUDA = (
    (580, "13.0"),
    (575, "12.9"),
    (570, "12.8"),
    (565, "12.7"),
    (560, "12.6"),
    (555, "12.5"),
    (550, "12.4"),
    (545, "12.3"),
    (535, "12.2"),
    (530, "12.1"),
    (525, "12.0"),
    (520, "11.8"),
    (515, "11.7"),
    (510, "11.6"),
    (495, "11.5"),
    (470, "11.4"),
    (465, "11.3"),
    (460, "11.2"),
    (455, "11.1"),
    (450, "11.0"),
)

# Product table (REFERENCE.md section 1), first match wins, so longer names come before their
# substrings (GH200 before H200, GB200 before B200). Each entry: name pattern, product (None: the
# matched text), compute capability. The capability nvidia-smi reports always takes precedence;
# the table's is the fallback for drivers without compute_cap (and for NVML-less guesses).
_PRODUCTS = (
    (r"\bGB300\b", "GB300", "10.3"),
    (r"\bB300\b", "B300", "10.3"),
    (r"\bGB200\b", "GB200", "10.0"),
    (r"\bB200\b", "B200", "10.0"),
    (r"\bB100\b", "B100", "10.0"),
    (r"\bGB10\b", "GB10", "12.1"),
    (r"\bRTX PRO 6000\b", "RTX PRO 6000", "12.0"),
    (r"\bRTX PRO \d{4}\b", None, "12.0"),
    (r"\bRTX 50\d0( Ti)?\b", None, "12.0"),
    (r"\bGH200\b", "GH200", "9.0"),
    (r"\bH200\b", "H200", "9.0"),
    (r"\bH100\b", "H100", "9.0"),
    (r"\bH800\b", "H800", "9.0"),
    (r"\bH20\b", "H20", "9.0"),
    (r"\bL40S\b", "L40S", "8.9"),
    (r"\bL40\b", "L40", "8.9"),
    (r"\bL20\b", "L20", "8.9"),
    (r"\bL4\b", "L4", "8.9"),
    (r"\bRTX \d{4} Ada\b", None, "8.9"),
    (r"\bRTX 40\d0( Ti| SUPER)?\b", None, "8.9"),
    (r"\bA100\b", "A100", "8.0"),
    (r"\bA800\b", "A800", "8.0"),
    (r"\bA30\b", "A30", "8.0"),
    (r"\bA10G?\b", None, "8.6"),
    (r"\bA40\b", "A40", "8.6"),
    (r"\bA16\b", "A16", "8.6"),
    (r"\bA2\b", "A2", "8.6"),
    (r"\bRTX A\d{4}\b", None, "8.6"),
    (r"\bRTX 30\d0( Ti)?\b", None, "8.6"),
    (r"\bV100\b", "V100", "7.0"),
    (r"\bT4\b", "T4", "7.5"),
)
_PRODUCT_RES = tuple((re.compile(p), prod, cc) for p, prod, cc in _PRODUCTS)

_CUDA_RE = re.compile(r"CUDA Version\s*:\s*(\d+\.\d+)")
_CC_RE = re.compile(r"^(\d+)\.(\d+)$")


class NvidiaSmiNotFound(GpuDetectionError):
    """Neither nvidia-smi nor NVML is there: the host may simply have no GPU stack."""


class NoGpuFound(GpuDetectionError):
    """The GPU stack answered but listed no GPU."""


# ---------------------------------------------------------------- product knowledge


def lookup_product(name):
    """Return ``(product, table_compute_capability)`` for a GPU name.

    Unknown names keep their own text without the ``NVIDIA `` prefix and get no capability.
    """
    short = _short_name(name)
    for regex, product, cc in _PRODUCT_RES:
        match = regex.search(short)
        if match:
            return (product or match.group(0)), cc
    return short, None


def _short_name(name):
    name = (name or "").strip()
    return name[len("NVIDIA ") :] if name.startswith("NVIDIA ") else name


def _cc_tuple(cc):
    match = _CC_RE.match(cc or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def architecture_for(cc):
    """Family name for a compute capability string such as ``"9.0"``."""
    parsed = _cc_tuple(cc)
    if parsed is None:
        return "unknown"
    major, minor = parsed
    if major == 8:
        return "ada" if minor == 9 else "ampere"
    if major == 9:
        return "hopper"
    if major in (10, 11):  # B200/GB200 10.0, B300/GB300 10.3, Thor 11.0
        return "blackwell"
    if major == 12:  # RTX PRO 6000 / RTX 50xx 12.0, GB10 12.1: different kernels from sm_100
        return "blackwell-consumer"
    return "unknown"


def has_fp8(cc):
    """FP8 tensor cores arrived with Ada (8.9) and Hopper (9.0)."""
    parsed = _cc_tuple(cc)
    return parsed is not None and parsed >= (8, 9)


def has_fp4(cc):
    """FP4 tensor cores arrived with Blackwell (10.x, 12.x)."""
    parsed = _cc_tuple(cc)
    return parsed is not None and parsed[0] >= 10


def cuda_from_driver(driver_version):
    """Highest CUDA a driver branch supports, from ``DRIVER_CUDA``; None when unknown."""
    match = re.match(r"^(\d+)", driver_version or "")
    if not match:
        return None
    branch = int(match.group(1))
    for floor, cuda in DRIVER_CUDA:
        if branch >= floor:
            return cuda
    return None


# ---------------------------------------------------------------- parsing nvidia-smi text


def _value(cell):
    cell = cell.strip()
    return None if cell in _UNAVAILABLE else cell


def _strip_header_unit(cell):
    return re.sub(r"\s*\[[^\]]*\]$", "", cell.strip())


def parse_query_csv(text, fields=QUERY_FIELDS):
    """Parse ``nvidia-smi --query-gpu=FIELDS --format=csv[,noheader][,nounits]`` output.

    Returns one dict per GPU keyed by field name; unavailable values (``[N/A]``,
    ``[Not Supported]``) become None. A header line (``--format=csv`` without ``noheader``)
    is recognised and skipped. Raises GpuDetectionError on a line that does not fit ``fields``.
    """
    rows = []
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if lines and [_strip_header_unit(c) for c in lines[0].split(",")] == list(fields):
        lines = lines[1:]
    for number, line in enumerate(lines, start=1):
        if line.strip() == NO_DEVICES_TEXT:
            continue
        cells = line.split(", ")
        if len(cells) != len(fields):
            raise GpuDetectionError(
                "gpu_facts could not parse line %d of the nvidia-smi output %r: it has %d comma-separated "
                "values where the query asked for %d (%s). This nvidia-smi prints a format gpu_facts does not "
                "know; run `nvidia-smi --query-gpu=%s --format=csv,noheader,nounits` on the host and report "
                "its output." % (number, line, len(cells), len(fields), ", ".join(fields), ",".join(fields)),
                line=line,
            )
        rows.append(dict(zip(fields, (_value(c) for c in cells))))
    return rows


def parse_cuda_version(text):
    """CUDA version from ``nvidia-smi --version`` (``CUDA Version : 13.0``) or the plain
    ``nvidia-smi`` header (``CUDA Version: 13.0``); None when absent (old drivers, ``N/A``)."""
    match = _CUDA_RE.search(text or "")
    return match.group(1) if match else None


def _int_mib(value):
    match = re.match(r"^\s*(\d+)", value or "")
    return int(match.group(1)) if match else None


def devices_from_rows(rows):
    """Turn parsed query rows into the ``devices`` list of the fact."""
    devices = []
    for row in rows:
        index = row.get("index")
        if index is None or not index.isdigit():
            raise GpuDetectionError(
                "gpu_facts read a GPU with index %r from nvidia-smi, which is not a number; the output is "
                "not what `--query-gpu=index,...` prints. Run that query on the host and report its output." % index
            )
        name = row.get("name") or ""
        _product, table_cc = lookup_product(name)
        cc = row.get("compute_cap")
        if _cc_tuple(cc) is None:
            cc = table_cc
        devices.append(
            {
                "index": int(index),
                "uuid": row.get("uuid"),
                "name": name,
                "compute_capability": cc,
                "memory_mib": _int_mib(row.get("memory.total")),
                "pci_bus_id": row.get("pci.bus_id"),
                "mig_mode": row.get("mig.mode.current"),
            }
        )
    return devices


# ---------------------------------------------------------------- the fact


def absent_facts():
    """The fact for a host without GPUs, with ``required=false``."""
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
        "source": None,
        "present": False,
        "devices": [],
    }


def build_facts(devices, driver_version, cuda_version, source):
    """The ``llmfleet_gpus`` fact (docs/architecture.md) from a non-empty device list.

    product, architecture and compute_capability describe the first GPU; fp8/fp4 hold only when
    every GPU has them, so a mixed host never claims more than its weakest GPU can do.
    """
    first = devices[0]
    product, _cc = lookup_product(first["name"])
    memories = [d["memory_mib"] for d in devices if d["memory_mib"] is not None]
    return {
        "count": len(devices),
        "driver_version": driver_version,
        "cuda_version": cuda_version if cuda_version else cuda_from_driver(driver_version),
        "product": product,
        "architecture": architecture_for(first["compute_capability"]),
        "compute_capability": first["compute_capability"],
        "memory_mib": min(memories) if memories else None,
        "fp8": all(has_fp8(d["compute_capability"]) for d in devices),
        "fp4": all(has_fp4(d["compute_capability"]) for d in devices),
        "uniform": len({d["name"] for d in devices}) == 1,
        "mig_enabled": any(d["mig_mode"] == "Enabled" for d in devices),
        "source": source,
        "present": True,
        "devices": devices,
    }


def facts_from_nvidia_smi(query_text, version_text=None, smi_text=None, fields=QUERY_FIELDS):
    """Pure: the fact from nvidia-smi's outputs (query CSV, ``--version``, plain table).

    Raises NoGpuFound when the query lists no GPU.
    """
    rows = parse_query_csv(query_text, fields)
    devices = devices_from_rows(rows)
    if not devices:
        raise NoGpuFound(
            "nvidia-smi ran but listed no GPU%s, so this host has no GPU to serve from. Check that the GPUs are "
            "visible to the OS (`lspci | grep -i nvidia`), that a container running this task was given them "
            "(`--gpus all`), and that CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES do not hide them; on hosts "
            "meant to have no GPU set required: false." % (" (%r)" % query_text.strip() if query_text.strip() else "")
        )
    drivers = [r["driver_version"] for r in rows if r.get("driver_version")]
    driver_version = drivers[0] if drivers else None
    cuda = parse_cuda_version(version_text) or parse_cuda_version(smi_text)
    return build_facts(devices, driver_version, cuda, "nvidia-smi")


def _index_ranges(indexes):
    return ", ".join(str(i) for i in indexes)


def warnings_for(facts):
    """Warnings a user should see for a host that gpu_facts reads but the planner will refuse."""
    warnings = []
    devices = facts.get("devices") or []
    if facts.get("present") and not facts.get("uniform"):
        groups = {}
        for dev in devices:
            groups.setdefault(dev["name"], []).append(dev["index"])
        found = "; ".join("%d x %s (GPU %s)" % (len(ix), name, _index_ranges(ix)) for name, ix in groups.items())
        warnings.append(
            "This host has GPUs of different models: %s. llmfleet_gpus.uniform is false and product/architecture "
            "describe GPU %d only; serving_plan refuses such a host because tensor parallelism needs identical GPUs. "
            "Serve from one model's GPUs on each host (move cards, or split the host into identical groups)."
            % (found, devices[0]["index"])
        )
    if facts.get("mig_enabled"):
        mig = [d["index"] for d in devices if d["mig_mode"] == "Enabled"]
        warnings.append(
            "MIG mode is Enabled on GPU %s, so those GPUs are split into MIG instances that whole-GPU tensor-parallel "
            "serving cannot use; llmfleet_gpus.mig_enabled is true and serving_plan refuses this host. As root, with "
            "the GPUs idle, disable it with `nvidia-smi -i %s -mig 0` and reset the GPUs (`nvidia-smi -i %s -r`) or "
            "reboot." % (_index_ranges(mig), ",".join(str(i) for i in mig), ",".join(str(i) for i in mig))
        )
    return warnings


# ---------------------------------------------------------------- NVML (optional)


def import_nvml():
    """Return the ``pynvml`` module when importable (package nvidia-ml-py), else None."""
    try:
        import pynvml  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return pynvml


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def facts_from_nvml(nvml):
    """The fact read through NVML (``pynvml``): used only when there is no nvidia-smi."""
    try:
        nvml.nvmlInit()
    except Exception as exc:  # pynvml raises its own NVMLError subclasses
        raise GpuDetectionError(
            "NVML (pynvml) could not initialise: %s. The NVIDIA driver is not usable on this host; check that "
            "the kernel module is loaded (`lsmod | grep nvidia`, `dmesg | grep NVRM`) and was built for the "
            "running kernel, then re-run." % exc
        ) from exc
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        try:
            raw = int(nvml.nvmlSystemGetCudaDriverVersion())
            cuda = "%d.%d" % (raw // 1000, (raw % 1000) // 10)
        except Exception:  # older NVML: fall back to the driver table in build_facts
            cuda = None
        devices = []
        for i in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            name = _text(nvml.nvmlDeviceGetName(handle))
            try:
                major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
                cc = "%d.%d" % (major, minor)
            except Exception:
                cc = lookup_product(name)[1]
            try:
                current = nvml.nvmlDeviceGetMigMode(handle)[0]
                mig = "Enabled" if current == 1 else "Disabled"
            except Exception:  # NVML_ERROR_NOT_SUPPORTED on GPUs without MIG
                mig = None
            devices.append(
                {
                    "index": i,
                    "uuid": _text(nvml.nvmlDeviceGetUUID(handle)),
                    "name": name,
                    "compute_capability": cc,
                    "memory_mib": int(nvml.nvmlDeviceGetMemoryInfo(handle).total) // (1024 * 1024),
                    "pci_bus_id": _text(nvml.nvmlDeviceGetPciInfo(handle).busId),
                    "mig_mode": mig,
                }
            )
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    if not devices:
        raise NoGpuFound(
            "NVML (pynvml) initialised but reports no GPU, so this host has no GPU to serve from. Check that the "
            "GPUs are visible (`lspci | grep -i nvidia`) and not hidden by CUDA_VISIBLE_DEVICES; on hosts meant "
            "to have no GPU set required: false."
        )
    return build_facts(devices, driver, cuda, "nvml")


# ---------------------------------------------------------------- running nvidia-smi


def query_argv(nvidia_smi, fields=QUERY_FIELDS):
    return [nvidia_smi, "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]


def _output(stdout, stderr):
    return "\n".join(part.strip() for part in (stdout, stderr) if part and part.strip())


def _invalid_field(text, field):
    return 'Field "%s" is not a valid field to query' % field in (text or "")


def _command_failed(argv, rc, stdout, stderr):
    said = _output(stdout, stderr)
    meaning = EXIT_CODE_MEANINGS.get(rc, "an error nvidia-smi(1) does not document")
    if rc in (9, 12) or "couldn't communicate with the NVIDIA driver" in said:
        advice = (
            "Check that the NVIDIA kernel module is loaded (`lsmod | grep nvidia`, `dmesg | grep NVRM`) and was "
            "built for the running kernel (after a kernel update: reinstall the driver or rebuild its DKMS "
            "module, then reboot), then re-run."
        )
    elif rc == 4:
        advice = "Run the task with become: true, or give the user access to /dev/nvidia*."
    elif rc == 15:
        advice = "Look for Xid errors in `dmesg`; the GPU usually needs a reset or a reboot, or service."
    else:
        advice = "Run the same command on the host to see the problem, fix it, and re-run."
    return GpuDetectionError(
        "`%s` exited with code %d (%s) and said: %r. gpu_facts cannot read the GPUs of this host until nvidia-smi "
        "works. %s required: false does not skip this, because a host whose NVIDIA tools fail is a broken GPU "
        "host, not a host without GPUs." % (" ".join(argv), rc, meaning, said or "(nothing)", advice),
        cmd=argv,
        rc=rc,
        stdout=stdout,
        stderr=stderr,
    )


def facts_from_commands(run, nvidia_smi):
    """Run nvidia-smi through ``run(argv) -> (rc, stdout, stderr)`` and build the fact."""
    fields = QUERY_FIELDS
    argv = query_argv(nvidia_smi, fields)
    rc, out, err = run(argv)
    if rc != 0 and _invalid_field(out + err, "compute_cap"):
        # Drivers before 510: ask again without compute_cap; the product table supplies it.
        fields = LEGACY_QUERY_FIELDS
        argv = query_argv(nvidia_smi, fields)
        rc, out, err = run(argv)
    if NO_DEVICES_TEXT in out + err:
        return facts_from_nvidia_smi(_output(out, err), fields=fields)  # raises NoGpuFound, quoting nvidia-smi
    if rc != 0:
        raise _command_failed(argv, rc, out, err)

    rc_v, version_text, _err = run([nvidia_smi, "--version"])
    if rc_v != 0 or parse_cuda_version(version_text) is None:
        # Older nvidia-smi --version has no CUDA line (or no --version at all): read the table header.
        rc_t, smi_text, _err = run([nvidia_smi])
        smi_text = smi_text if rc_t == 0 else None
        version_text = None
    else:
        smi_text = None
    return facts_from_nvidia_smi(out, version_text, smi_text, fields)


def _is_executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def detect(run, which, nvidia_smi=None, required=True, nvml_loader=import_nvml):
    """Read the GPUs; the module's one entry point.

    run: ``run(argv) -> (rc, stdout, stderr)``; which: ``which() -> path or None`` (nvidia-smi on PATH);
    nvidia_smi: the option (explicit path) or None; required: the option.
    Returns ``{"facts": ..., "warnings": [...], "msg": ...}``; raises GpuDetectionError.
    """
    try:
        if nvidia_smi:
            if not os.path.exists(nvidia_smi):
                raise NvidiaSmiNotFound(
                    "nvidia_smi=%s: no such file on this host, so gpu_facts cannot read its GPUs. Point nvidia_smi "
                    "at the nvidia-smi binary (`command -v nvidia-smi` on the host), leave it unset to search PATH, "
                    "or set required: false on hosts without GPUs." % nvidia_smi
                )
            if not _is_executable(nvidia_smi):
                raise GpuDetectionError(
                    "nvidia_smi=%s exists but is not an executable file. Point nvidia_smi at the nvidia-smi binary "
                    "(`command -v nvidia-smi` on the host) or make it executable." % nvidia_smi
                )
            facts = facts_from_commands(run, nvidia_smi)
        else:
            found = which()
            if found:
                facts = facts_from_commands(run, found)
            else:
                nvml = nvml_loader()
                if nvml is None:
                    raise NvidiaSmiNotFound(
                        "nvidia-smi was not found on PATH (%s) and the Python module pynvml is not importable, so "
                        "gpu_facts cannot read the GPUs of this host. Install the NVIDIA driver and its utilities "
                        "(nvidia-smi ships with them), set the nvidia_smi option to the binary's path, or set "
                        "required: false on hosts without GPUs." % os.environ.get("PATH", "")
                    )
                facts = facts_from_nvml(nvml)
    except (NvidiaSmiNotFound, NoGpuFound) as exc:
        if required:
            raise
        return {"facts": absent_facts(), "warnings": [], "msg": "No GPU (required=false): %s" % exc}
    msg = "%d x %s (%s, compute capability %s), driver %s, CUDA %s, read through %s" % (
        facts["count"],
        facts["product"],
        facts["architecture"],
        facts["compute_capability"],
        facts["driver_version"],
        facts["cuda_version"],
        facts["source"],
    )
    return {"facts": facts, "warnings": warnings_for(facts), "msg": msg}
