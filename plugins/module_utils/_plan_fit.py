# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's hardware fit: the GPU facts it reads, the deployment a profile gives for them,
the tensor parallel size and whether the weights fit in GPU memory.

Part of the serving planner (_plan.build_plan); pure and standard-library only, as _plan is.
"""

from __future__ import annotations

import json
import math

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_profile import _describe
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import (
    ENGINES,
)

_DEFAULT_KV_HEADROOM_GB = 10

# ---------------------------------------------------------------------------------------------
# GPU facts
# ---------------------------------------------------------------------------------------------
_GPU_KEYS = ("count", "product", "architecture", "compute_capability", "memory_mib", "uniform", "mig_enabled")


def _product_key(product):
    """First word of the marketing name: 'NVIDIA H100 80GB HBM3' and 'H100' both give 'H100'."""
    words = [w for w in str(product).split() if w.upper() != "NVIDIA"]
    return words[0].upper() if words else ""


def _describe_gpus(g):
    return "%d x %s (%s, compute capability %s)" % (
        g["count"],
        g["product"],
        g["architecture"],
        g["compute_capability"],
    )


def _read_gpus(gpus):
    if not isinstance(gpus, dict):
        raise PlanError(
            "gpus must be the llmfleet_gpus fact (a mapping) from llmfleet.serving.gpu_facts, found %s"
            % _describe(gpus)
        )
    count = gpus.get("count")
    if gpus.get("present") is False or count == 0:
        raise PlanError(
            "gpus: no GPU found (present: %s, count: %s); DeepSeek-class models need NVIDIA data-center GPUs: "
            "run the plan on a GPU host with its llmfleet_gpus fact (gpu_facts with required: true stops there)"
            % (json.dumps(gpus.get("present", True)), json.dumps(count))
        )
    missing = [k for k in _GPU_KEYS if gpus.get(k) is None]
    if missing:
        raise PlanError(
            "gpus: keys %s are missing or null; pass the llmfleet_gpus fact that "
            "llmfleet.serving.gpu_facts sets" % ", ".join(missing)
        )
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise PlanError("gpus.count must be a whole number, found %s" % _describe(count))
    memory_mib = gpus["memory_mib"]
    if not isinstance(memory_mib, (int, float)) or isinstance(memory_mib, bool) or memory_mib <= 0:
        raise PlanError("gpus.memory_mib must be a positive number, found %s" % _describe(memory_mib))
    devices = gpus.get("devices") or []
    g = {
        "count": count,
        "product": str(gpus["product"]),
        "product_key": _product_key(gpus["product"]),
        "architecture": str(gpus["architecture"]),
        "compute_capability": str(gpus["compute_capability"]),
        "memory_mib": memory_mib,
        "driver_version": gpus.get("driver_version"),
        "cuda_version": gpus.get("cuda_version"),
        "fp4": gpus.get("fp4"),
    }
    if not gpus["uniform"]:
        counts = {}
        for dev in devices:
            counts[dev.get("name", "?")] = counts.get(dev.get("name", "?"), 0) + 1
        found = ", ".join("%d x %s" % (n, name) for name, n in sorted(counts.items())) or "uniform: false"
        raise PlanError(
            "gpus: GPUs of different models on one host (%s); tensor parallelism shards the model evenly, so one "
            "server needs identical GPUs: serve on a host whose GPUs are all the same model" % found
        )
    if gpus["mig_enabled"]:
        on = [str(dev.get("index")) for dev in devices if str(dev.get("mig_mode", "")).lower() == "enabled"]
        raise PlanError(
            "gpus: MIG mode is Enabled (GPU %s); a MIG slice is a fraction of a GPU and cannot hold this model's "
            "shard or join NCCL tensor parallelism: disable MIG (nvidia-smi -i N -mig 0, then reset the GPU) "
            "and gather facts again" % (", ".join(on) or "mig_enabled: true")
        )
    return g


def _matches(entry, g):
    if "products" in entry and g["product_key"] not in [p.upper() for p in entry["products"]]:
        return False
    if "architectures" in entry and g["architecture"] not in entry["architectures"]:
        return False
    if "compute_capabilities" in entry and g["compute_capability"] not in entry["compute_capabilities"]:
        return False
    return True


def _coverage(profile):
    """'B200 (vllm, sglang), H100 (sglang), ...' from the deployments that serve."""
    seen = {}
    for dep in profile["deployments"]:
        if "refuse" in dep:
            continue
        for target in dep.get("products") or dep.get("architectures") or dep.get("compute_capabilities"):
            engines = seen.setdefault(target, [])
            if dep["engine"] not in engines:
                engines.append(dep["engine"])
    return ", ".join("%s (%s)" % (t, ", ".join(e)) for t, e in seen.items())


def _check_supported(model, profile, g):
    for entry in profile.get("unsupported", []):
        if _matches(entry, g):
            raise PlanError(
                "gpus: %s cannot serve %s: %s. What works: %s"
                % (_describe_gpus(g), model, entry["reason"], _coverage(profile))
            )


def _find_deployment(profile, engine, g):
    for dep in profile["deployments"]:
        if dep["engine"] == engine and _matches(dep, g):
            return dep
    return None


def _choose_deployment(model, profile, engine, g):
    """Return (deployment, reason)."""
    if engine != "auto":
        dep = _find_deployment(profile, engine, g)
        if dep is None:
            raise PlanError(
                "engine %s: profile %s has no %s deployment for %s; it serves %s; pick another engine or add a "
                "deployment through the profiles option"
                % (engine, model, engine, _describe_gpus(g), _coverage(profile))
            )
        if "refuse" in dep:
            raise PlanError("engine %s on %s cannot serve %s: %s" % (engine, _describe_gpus(g), model, dep["refuse"]))
        return dep, "engine %s: chosen by the user (%s)." % (engine, ENGINES[engine]["label"])
    auto = profile.get("auto_engine", {}).get(g["architecture"])
    prefer = auto["prefer"] if auto else []
    for dep in profile["deployments"]:
        if dep["engine"] not in prefer:
            prefer = prefer + [dep["engine"]]
    for candidate in prefer:
        dep = _find_deployment(profile, candidate, g)
        if dep is None or "refuse" in dep:
            continue
        if auto and candidate == auto["prefer"][0]:
            why = auto["reason"]
        else:
            why = "the first engine with a %s deployment in profile %s" % (g["product_key"], model)
        return dep, "engine auto chose %s for %s: %s." % (ENGINES[candidate]["label"], _describe_gpus(g), why)
    raise PlanError(
        "engine auto: profile %s has no deployment that serves %s; it serves %s; add a deployment through the "
        "profiles option" % (model, _describe_gpus(g), _coverage(profile))
    )


# ---------------------------------------------------------------------------------------------
# Tensor parallelism and memory
# ---------------------------------------------------------------------------------------------
def _gb(value):
    text = "%.1f" % value
    return text[:-2] if text.endswith(".0") else text


def _choose_tp(requested, dep, g):
    count = g["count"]
    valid = [v for v in range(1, count + 1) if count % v == 0]
    valid_text = ", ".join(str(v) for v in valid)
    if requested is not None:
        if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1:
            raise PlanError(
                "tensor_parallel_size must be a whole number >= 1, found %s; valid values on this "
                "host (%d GPUs): %s" % (_describe(requested), count, valid_text)
            )
        if requested > count:
            raise PlanError(
                "tensor_parallel_size %d exceeds the %d GPUs found; valid values on this host: %s"
                % (requested, count, valid_text)
            )
        if count % requested:
            raise PlanError(
                "tensor_parallel_size %d does not divide the %d GPUs found; valid values on this "
                "host: %s" % (requested, count, valid_text)
            )
        return (
            requested,
            valid,
            "tensor_parallel_size %d: set by the user (deployment %s uses %d; %d GPUs found)."
            % (requested, dep["name"], dep["tensor_parallel_size"], count),
        )
    tp = dep["tensor_parallel_size"]
    if tp in valid:
        return tp, valid, "tensor_parallel_size %d: deployment %s's value; %d GPUs found." % (tp, dep["name"], count)
    # Fewer GPUs than the tested layout: keep a divisor of it, so heads and experts still split evenly.
    fallback = max(v for v in valid if v <= tp and tp % v == 0)
    return (
        fallback,
        valid,
        (
            "tensor_parallel_size %d: deployment %s uses %d, which does not fit the %d GPUs found; %d is the largest "
            "value that divides both." % (fallback, dep["name"], tp, count, fallback)
        ),
    )


def _check_memory(profile, dep, build, tp, valid, g, scope="this host"):
    size = build["size_gb"]
    headroom = profile.get("kv_headroom_gb", _DEFAULT_KV_HEADROOM_GB)
    fraction = dep["mem_fraction"]
    gpu_gb = g["memory_mib"] * 1048576 / 1e9
    usable = fraction * gpu_gb
    per_gpu = size / tp
    need = per_gpu + headroom
    arithmetic = (
        "%s %s %s GB / tensor_parallel_size %d = %s GB per GPU + %s GB KV-cache headroom = %s GB, "
        "%s %s x %s GB (%s, %s MiB) = %s GB per GPU usable"
        % (
            build.get("label", "build"),
            build["model_id"],
            _gb(size),
            tp,
            _gb(per_gpu),
            _gb(headroom),
            _gb(need),
            "but" if need > usable else "within",
            fraction,
            _gb(gpu_gb),
            g["product"],
            g["memory_mib"],
            _gb(usable),
        )
    )
    if need <= usable:
        return "Memory fits: " + arithmetic + "."
    fitting = [v for v in valid if size / v + headroom <= usable]
    if fitting:
        what = "use tensor_parallel_size %d or a GPU with more memory" % min(fitting)
    elif usable > headroom:
        least = int(math.ceil(size / (usable - headroom)))
        power = 1 << (least - 1).bit_length()
        what = (
            "it needs the memory of at least %d such GPUs (e.g. tensor_parallel_size %d on a host with %d), "
            "and %s has %d: use %s or a GPU with more memory"
            % (
                least,
                power,
                power,
                scope,
                g["count"],
                "a host with more GPUs" if scope == "this host" else "more hosts in the cell",
            )
        )
    else:
        what = "use a GPU with more memory"
    raise PlanError("weights do not fit: %s; %s" % (arithmetic, what))
