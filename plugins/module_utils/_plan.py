# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The serving planner: profile data + GPU facts + user choices -> one plan.

Pure and standard-library only: no I/O, no clock, no randomness, so the same inputs give the same
plan byte for byte. Every refusal is a ``PlanError`` whose message says what was found, why it
cannot work and what would. The plan's keys are the contract in docs/architecture.md ("plan").
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
import shlex

from ansible_collections.llmfleet.serving.plugins.module_utils._container_args import STOP_TIMEOUT_S, seed_docker_run
from ansible_collections.llmfleet.serving.plugins.module_utils._engine_flags import ENGINE_FLAGS, PARSER_OPTIONS
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import (
    INSTANCE_NAME_RULE,
    control_character,
    instance_name_problem,
    show,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import (
    CUDA_DRIVER_FLOORS,
    ENGINES,
    PROFILES,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._references import (
    address_problem,
    host_dir_problem,
    image_problem,
    image_tag,
    port_publish,
)

DEFAULT_MODEL = "deepseek-v4-flash"
DEFAULT_PORT = 8000
DEFAULT_SERVED_MODEL_NAME = "deepseek"
# The seed mounts ~/.cache/huggingface and the serve role's systemd unit runs docker as root.
DEFAULT_HF_CACHE_DIR = "/root/.cache/huggingface"
CONTAINER_HF_CACHE = "/root/.cache/huggingface"
ENGINE_CHOICES = ("vllm", "sglang", "auto")

# What the running server is made of; a change in any of these must restart it, nothing else may.
HASHED_KEYS = (
    "engine",
    "model_id",
    "image",
    "served_model_name",
    "port",
    "tensor_parallel_size",
    "env",
    "command",
    "container",
    "secrets",
)

# Upper bound of tensor_parallel_size: one server shards over the GPUs of one host, and the largest
# hosts sold have 8 (16 at most in older HGX-2 systems); 64 leaves room for any single-host design
# while a typo such as 400 is refused before the GPU count is even read.
TENSOR_PARALLEL_MAX = 64
# What clients send as `model`: Hugging Face style names ('org/model-v4.1', 'deepseek'), no
# whitespace, quotes, control characters, '$', '%' or '\\' (it reaches a command line and a unit).
SERVED_MODEL_NAME_MAX = 128
_SERVED_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,%d}$" % (SERVED_MODEL_NAME_MAX - 1))
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CUDA_TAG_RE = re.compile(r"(?<![a-z0-9])(cu)(\d{2})(\d)(?![0-9])")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_REQUIRED_PLACEHOLDERS = ("{model_id}", "{served_model_name}", "{tensor_parallel_size}")
# Hugging Face repository ids (huggingface_hub's validate_repo_id): ORG/NAME, at most 96 characters each.
_MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$", re.ASCII)

# ---------------------------------------------------------------------------------------------
# Profile validation: the schema of a profile, as data. Each spec is a type name, or
# ("dict", {key: (spec, required)}), ("map", spec) (any string keys) or ("list", spec).
# ---------------------------------------------------------------------------------------------
_MATCH_KEYS = {
    "products": (("list", "str"), False),
    "architectures": (("list", "str"), False),
    "compute_capabilities": (("list", "str"), False),
}
_DEPLOYMENT_SPEC = (
    "dict",
    dict(
        _MATCH_KEYS,
        name=("str", True),
        engine=("str", True),
        refuse=("str", False),
        build=("str", False),
        image=("str", False),
        tensor_parallel_size=("int", False),
        mem_fraction=("number", False),
        env=(("map", "str"), False),
        command=(("list", "str"), False),
        speculative_args=(("list", "str"), False),
        speculative_default=("bool", False),
        engine_version=("str", False),
        shm_size=("str_or_null", False),
        source=("str", False),
        note=("str", False),
    ),
)
# Keys a deployment that serves (has no `refuse`) must have.
_SERVING_KEYS = ("build", "image", "tensor_parallel_size", "mem_fraction", "command")
_PROFILE_SPEC = (
    "dict",
    {
        "description": ("str", False),
        "source": ("str", False),
        "note": ("str", False),
        "readiness": (
            (
                "dict",
                {
                    "health_path": ("str", True),
                    "models_path": ("str", True),
                    "timeout_s": ("int", True),
                },
            ),
            False,
        ),
        "kv_headroom_gb": ("number", False),
        "builds": (
            (
                "map",
                (
                    "dict",
                    {
                        "model_id": ("str", True),
                        "size_gb": ("number", True),
                        "label": ("str", False),
                        "source": ("str", False),
                        "note": ("str", False),
                    },
                ),
            ),
            True,
        ),
        "auto_engine": (
            (
                "map",
                (
                    "dict",
                    {
                        "prefer": (("list", "str"), True),
                        "reason": ("str", True),
                    },
                ),
            ),
            False,
        ),
        "unsupported": (
            ("list", ("dict", dict(_MATCH_KEYS, reason=("str", True), source=("str", False), note=("str", False)))),
            False,
        ),
        "deployments": (("list", _DEPLOYMENT_SPEC), True),
    },
)
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "a boolean",
    "str_or_null": "a string or null",
    "dict": "a mapping",
    "map": "a mapping",
    "list": "a list",
}
_DEFAULT_READINESS = {"health_path": "/health", "models_path": "/v1/models", "timeout_s": 3600}
_DEFAULT_KV_HEADROOM_GB = 10


def _type_ok(value, kind):
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str_or_null":
        return value is None or isinstance(value, str)
    if kind in ("dict", "map"):
        return isinstance(value, dict)
    return isinstance(value, list)


def _describe(value):
    shown = json.dumps(value, sort_keys=True, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return "%s %s" % (type(value).__name__, shown)


def _check_spec(value, spec, path, where):
    kind = spec if isinstance(spec, str) else spec[0]
    if not _type_ok(value, kind):
        raise PlanError(
            "%s%s must be %s, found %s; see the built-in profile in plugins/module_utils/_profiles.py for the "
            "expected shape" % (where, (": key '%s'" % path) if path else "", _TYPE_WORDS[kind], _describe(value))
        )
    if kind == "dict":
        fields = spec[1]
        unknown = sorted(str(k) for k in value if k not in fields)
        if unknown:
            raise PlanError(
                "%s: key '%s%s' is not a known key; known keys there: %s"
                % (where, path + "." if path else "", unknown[0], ", ".join(sorted(fields)))
            )
        for key in sorted(fields):
            sub, required = fields[key]
            if key not in value:
                if required:
                    raise PlanError(
                        "%s: key '%s%s' is missing; it must be %s"
                        % (where, path + "." if path else "", key, _TYPE_WORDS[sub if isinstance(sub, str) else sub[0]])
                    )
                continue
            _check_spec(value[key], sub, (path + "." if path else "") + key, where)
    elif kind == "map":
        for key in sorted(value, key=str):
            if not isinstance(key, str):
                raise PlanError("%s: key '%s' has a non-string key %s" % (where, path, _describe(key)))
            _check_spec(value[key], spec[1], "%s.%s" % (path, key), where)
    elif kind == "list":
        for index, item in enumerate(value):
            _check_spec(item, spec[1], "%s[%d]" % (path, index), where)


def _check_control(value, path, where):
    """Refuse a control character in any string (key or value) of profile data, naming its path.

    Profile strings end up on command lines, in unit files and in env files, where a line break
    starts a new directive (issue 9: a model id with a newline added an ExecStartPre line)."""
    if isinstance(value, str):
        found = control_character(value)
        if found:
            raise PlanError(
                "%s: key '%s' holds a control character (%s) in %s; strings in a profile reach command lines "
                "and unit files, where a line break or tab starts something new, so control characters are "
                "refused: remove it" % (where, path or "(the profile)", found, show(value)),
                option="profiles",
            )
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            sub = "%s.%s" % (path, key) if path else str(key)
            if isinstance(key, str) and control_character(key):
                raise PlanError(
                    "%s: key %s under '%s' holds a control character (%s); keys and values of a profile "
                    "must not hold control characters: remove it"
                    % (where, show(key), path or "(the profile)", control_character(key)),
                    option="profiles",
                )
            _check_control(value[key], sub, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_control(item, "%s[%d]" % (path, index), where)


def validate_profile(name, profile):
    """Raise PlanError naming the profile, the key and the expected type when ``profile`` is malformed."""
    where = "profiles.%s" % name
    _check_control(profile, "", where)
    _check_spec(profile, _PROFILE_SPEC, "", where)
    builds = profile["builds"]
    for build_name in sorted(builds):
        model_id = builds[build_name]["model_id"]
        if not _MODEL_ID_RE.match(model_id) or ".." in model_id:
            raise PlanError(
                "%s: key 'builds.%s.model_id' %s is not a Hugging Face repository id; it must be ORG/NAME of "
                "letters, digits, '-', '_' and '.' (e.g. deepseek-ai/DeepSeek-V4-Flash), as the engine and the "
                "weights cache name it" % (where, build_name, show(model_id)),
                option="profiles",
            )
    names = set()
    for index, dep in enumerate(profile["deployments"]):
        path = "deployments[%d]" % index
        if dep["name"] in names:
            raise PlanError(
                "%s: key '%s.name': deployment name '%s' appears twice; names must be unique"
                % (where, path, dep["name"])
            )
        names.add(dep["name"])
        if dep["engine"] not in ENGINES:
            raise PlanError(
                "%s: key '%s.engine' is '%s'; it must be one of %s"
                % (where, path, dep["engine"], ", ".join(sorted(ENGINES)))
            )
        if not any(k in dep for k in _MATCH_KEYS):
            raise PlanError(
                "%s: key '%s' needs at least one of %s to say which GPUs it serves"
                % (where, path, ", ".join(sorted(_MATCH_KEYS)))
            )
        if "refuse" in dep:
            continue
        for key in _SERVING_KEYS:
            if key not in dep:
                raise PlanError(
                    "%s: key '%s.%s' is missing (needed unless the deployment has 'refuse')" % (where, path, key)
                )
        problem = image_problem(dep["image"])
        if problem:
            raise PlanError("%s: key '%s.image' %s %s" % (where, path, show(dep["image"]), problem), option="profiles")
        if dep["build"] not in builds:
            raise PlanError(
                "%s: key '%s.build' is '%s', which is not in builds (%s)"
                % (where, path, dep["build"], ", ".join(sorted(builds)))
            )
        if dep["tensor_parallel_size"] < 1:
            raise PlanError(
                "%s: key '%s.tensor_parallel_size' must be an integer >= 1, found %s"
                % (where, path, dep["tensor_parallel_size"])
            )
        if not 0 < dep["mem_fraction"] <= 1:
            raise PlanError(
                "%s: key '%s.mem_fraction' must be a number in (0, 1], found %s" % (where, path, dep["mem_fraction"])
            )
        for token in _REQUIRED_PLACEHOLDERS:
            if token not in dep["command"]:
                raise PlanError(
                    "%s: key '%s.command' must contain the token '%s' so the plan's value reaches "
                    "the engine" % (where, path, token)
                )
        if dep.get("speculative_args") and "{speculative}" not in dep["command"]:
            raise PlanError(
                "%s: key '%s.command' must contain the token '{speculative}' where speculative_args go" % (where, path)
            )
    for arch, entry in sorted(profile.get("auto_engine", {}).items()):
        for engine in entry["prefer"]:
            if engine not in ENGINES:
                raise PlanError(
                    "%s: key 'auto_engine.%s.prefer' names engine '%s'; it must be one of %s"
                    % (where, arch, engine, ", ".join(sorted(ENGINES)))
                )
    for index, entry in enumerate(profile.get("unsupported", [])):
        if not any(k in entry for k in _MATCH_KEYS):
            raise PlanError(
                "%s: key 'unsupported[%d]' needs at least one of %s" % (where, index, ", ".join(sorted(_MATCH_KEYS)))
            )


def _resolve_profile(model, profiles):
    known = dict(PROFILES)
    if profiles is not None:
        if not isinstance(profiles, dict):
            raise PlanError("profiles must be a mapping of profile name to profile, found %s" % _describe(profiles))
        for name in sorted(profiles, key=str):
            if not isinstance(name, str) or not name:
                raise PlanError("profiles: profile names must be non-empty strings, found %s" % _describe(name))
            try:
                validate_profile(name, profiles[name])
            except PlanError as exc:
                exc.details.setdefault("option", "profiles")
                raise
            known[name] = profiles[name]
    if not isinstance(model, str) or model not in known:
        raise PlanError(
            "model %s is not a known profile; known profiles: %s; add your own through the profiles option"
            % (
                show(model) if isinstance(model, str) and control_character(model) else "'%s'" % model,
                ", ".join(sorted(known)),
            ),
            option="model",
        )
    # The planner never hands out (or mutates) the module-level data.
    return copy.deepcopy(known[model])


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


# ---------------------------------------------------------------------------------------------
# Image and driver
# ---------------------------------------------------------------------------------------------
_image_tag = image_tag


def _version_tuple(text):
    parts = []
    for piece in str(text).split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def _check_image(image, g, overridden):
    """Return (min_driver or None, reason)."""
    tag = _image_tag(image)
    match = _CUDA_TAG_RE.search(tag)
    driver = g["driver_version"]
    found = _version_tuple(driver) if driver else ()
    if not match:
        return None, (
            "Image %s names no CUDA version in its tag (cuNNN): the driver floor is not checked "
            "(driver %s found)." % (image, driver)
        )
    cu = match.group(0)
    cuda = "%s.%s" % (match.group(2).lstrip("0") or "0", match.group(3))
    floor = CUDA_DRIVER_FLOORS.get(cu)
    whose = "the user's image" if overridden else "image"
    if floor is None:
        have = g["cuda_version"]
        if have and _version_tuple(have) and _version_tuple(have) < _version_tuple(cuda):
            raise PlanError(
                "image %s: its tag %s needs CUDA %s, but driver %s supports CUDA %s at most (gpus.cuda_version); "
                "upgrade the NVIDIA driver or use an image built for CUDA %s or older"
                % (image, cu, cuda, driver, have, have)
            )
        return None, "Image %s: tag %s (CUDA %s) has no known driver floor; gpus.cuda_version is %s." % (
            image,
            cu,
            cuda,
            have,
        )
    if not found:
        return floor["min_driver"], "Image %s needs driver >= %s (%s, CUDA %s); the driver version is unknown (%s)." % (
            image,
            floor["min_driver"],
            cu,
            floor["cuda"],
            driver,
        )
    if found[0] < int(floor["min_driver"]):
        older = [
            "%s (driver >= %s)" % (name, f["min_driver"])
            for name, f in sorted(CUDA_DRIVER_FLOORS.items(), reverse=True)
            if found[0] >= int(f["min_driver"])
        ]
        raise PlanError(
            "gpus.driver_version %s is older than %s %s needs: its tag %s (CUDA %s) needs driver >= %s; upgrade the "
            "NVIDIA driver to %s or newer%s"
            % (
                driver,
                whose,
                image,
                cu,
                floor["cuda"],
                floor["min_driver"],
                floor["min_driver"],
                (", or use an image whose tag your driver supports: " + ", ".join(older)) if older else "",
            )
        )
    return floor["min_driver"], "Driver %s >= %s, which %s %s needs (tag %s, CUDA %s)." % (
        driver,
        floor["min_driver"],
        whose,
        image,
        cu,
        floor["cuda"],
    )


# ---------------------------------------------------------------------------------------------
# Command, env, extra args
# ---------------------------------------------------------------------------------------------
def _flag_key(token, engine):
    """Canonical name of a flag token, or None for a value. '--a_b=1' and '--no-a-b' both give '--a-b' (vLLM)."""
    if not token.startswith("-") or _NUMBER_RE.match(token) or token in ("-", "--"):
        return None
    name = token.split("=", 1)[0]
    data = ENGINES[engine]
    if data["flag_underscores_are_dashes"]:
        name = name[:2] + name[2:].replace("_", "-")
    if name.startswith("--no-"):
        name = "--" + name[5:]
    return data["flag_aliases"].get(name, name)


def _render_command(dep, values, speculative):
    command = []
    for token in dep["command"]:
        if token == "{speculative}":
            if speculative:
                command.extend(dep.get("speculative_args", []))
        elif token in values:
            command.append(values[token])
        else:
            command.append(token)
    return command


def _stringify(value, where, option):
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise PlanError(
            "%s: found %s; give a string (quote it in YAML, e.g. '1' or 'true') so the engine gets "
            "exactly that text" % (where, _describe(value)),
            option=option,
        )
    text = str(value)
    _refuse_control(text, where, option)
    return text


def _refuse_control(text, where, option):
    found = control_character(text) if isinstance(text, str) else None
    if found:
        raise PlanError(
            "%s: %s holds a control character (%s); the value reaches a command line and a unit "
            "file, where a line break or tab starts something new: remove it" % (where, _describe(text), found),
            option=option,
        )


def _merge_env(dep_env, user_env, engine):
    if user_env is None:
        user_env = {}
    if not isinstance(user_env, dict):
        raise PlanError(
            "env must be a mapping of variable name to value, found %s; write it as a YAML mapping, "
            "e.g. {NCCL_DEBUG: WARN}" % _describe(user_env),
            option="env",
        )
    merged = dict(dep_env)
    for key in sorted(user_env, key=str):
        if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
            raise PlanError(
                "env: variable name %s is not valid; names are letters, digits and _ and do not "
                "start with a digit" % _describe(key),
                option="env",
            )
        if key in ENGINES[engine]["secret_env"]:
            raise PlanError(
                "env.%s: secrets never enter the plan (it is returned, logged and hashed); give the "
                "secret to the serve role, which passes it as plan.secrets describes" % key,
                option="env",
            )
        merged[key] = _stringify(user_env[key], "env.%s" % key, "env")
    return dict(sorted(merged.items()))


def _catalog(engine, dep):
    """(version, {flag: takes_value}, parser options) of the engine release the deployment runs."""
    version = dep.get("engine_version") or ENGINES[engine]["catalog_version"]
    flags = ENGINE_FLAGS.get(engine, {}).get(version)
    return version, flags, PARSER_OPTIONS.get(engine, {}).get(version, {})


def _catalog_name(token, options):
    """The option string the engine's parser looks up for ``token`` ('--max_num_seqs=4' -> '--max-num-seqs')."""
    name = token.split("=", 1)[0]
    if options.get("underscores_are_dashes") and name.startswith("--"):
        # vLLM's FlexibleArgumentParser rewrites '_' to '-' in long option names before parsing.
        name = "--" + name[2:].replace("_", "-")
    if options.get("dotted_keys") and name.startswith("--") and "." in name:
        # vLLM: '--attention-config.use_fp4_indexer_cache=True' sets one key of the JSON flag.
        name = name.split(".", 1)[0]
    return name


def _unknown_flag(token, flags, options):
    """None when the engine's parser accepts ``token``'s flag; else the closest known flags (maybe empty)."""
    name = _catalog_name(token, options)
    if name in flags:
        return None
    if options.get("allow_abbrev") and name.startswith("--") and "=" not in name:
        # SGLang's parser is plain argparse: a unique prefix of a long option is that option (the seed's
        # --speculative-algo is one); argparse refuses an ambiguous prefix, and so does this.
        matches = [f for f in flags if f.startswith(name) and f.startswith("--")]
        if len(matches) == 1:
            return None
        if len(matches) > 1:
            return sorted(matches)[:5]
    return difflib.get_close_matches(name, sorted(flags), n=3, cutoff=0.6)


def _check_extra_args(extra_args, command, engine, dep, allow_unknown_args=False):
    """Return (args, reason or None)."""
    if extra_args is None:
        return [], None
    if isinstance(extra_args, str):
        try:
            example = shlex.split(extra_args)
        except ValueError:
            example = extra_args.split()
        raise PlanError(
            "extra_args must be a list of strings, found %s: write it as a YAML list, e.g. %s (one item per "
            "token; a single string would reach the engine as one argument)"
            % (_describe(extra_args), json.dumps(example or ["--flag", "value"]).replace('"', "'")),
            option="extra_args",
        )
    if not isinstance(extra_args, list):
        raise PlanError(
            "extra_args must be a list of strings, found %s: write it as a YAML list, e.g. "
            "['--enable-prefix-caching']" % _describe(extra_args),
            option="extra_args",
        )
    args = [_stringify(a, "extra_args[%d]" % i, "extra_args") for i, a in enumerate(extra_args)]
    data = ENGINES[engine]
    present = {}
    for index, token in enumerate(command):
        key = _flag_key(token, engine)
        if key is not None and key not in present:
            following = command[index + 1] if index + 1 < len(command) else None
            shown = token
            if "=" not in token and following is not None and _flag_key(following, engine) is None:
                shown = "%s %s" % (token, following)
            present[key] = shown
    version, flags, parser_options = _catalog(engine, dep)
    for token in args:
        key = _flag_key(token, engine)
        if key is None:
            continue
        if key in [_flag_key(f, engine) for f in data["secret_flags"]]:
            raise PlanError(
                "extra_args: '%s' would put a secret on the command line and into the plan; give the "
                "API key to the serve role, which passes it to %s as plan.secrets.api_key says"
                % (token, data["label"]),
                option="extra_args",
            )
        option = data["flag_options"].get(key)
        if key in present:
            what = (
                ("set it through the %s option instead" % option)
                if option
                else ("to change it, override the profile's deployment through the profiles option")
            )
            raise PlanError(
                "extra_args: '%s' duplicates '%s' that deployment %s already sets; %s reads one value and silently "
                "drops the other, so a second copy is refused: %s"
                % (token, present[key], dep["name"], data["label"], what),
                option="extra_args",
            )
        if option:
            # Not on the command line yet (the engine's default applies), but the plan still owns it:
            # e.g. vLLM's port must match plan.port, which the container publishes and the checks probe.
            raise PlanError(
                "extra_args: '%s' is what the plan sets from its %s option; set it there instead, so "
                "the plan, the published port and the checks agree" % (token, option),
                option="extra_args",
            )
        if allow_unknown_args:
            continue
        # An engine exits at start on a flag its parser lacks; refusing here keeps a running server
        # from being replaced by one that crash-loops (issue 9).
        if flags is None:
            raise PlanError(
                "extra_args: cannot check '%s': there is no flag catalog for %s %s (deployment %s); catalogs: %s. "
                "Generate one with extensions/engine-flags/generate.py, or set allow_unknown_args: true to pass "
                "the flags unchecked"
                % (
                    token,
                    data["label"],
                    version,
                    dep["name"],
                    ", ".join(sorted(ENGINE_FLAGS.get(engine, {}))) or "none",
                ),
                option="extra_args",
            )
        close = _unknown_flag(token, flags, parser_options)
        if close is not None:
            raise PlanError(
                "extra_args: '%s' is not a flag of %s %s (the catalog in plugins/module_utils/_engine_flags.py, "
                "generated from the engine's own argument parser); %s. The engine would exit at start, so it is "
                "refused before the running server is touched; if the image's %s has this flag, set "
                "allow_unknown_args: true"
                % (
                    token,
                    data["label"],
                    version,
                    ("closest known flags: " + ", ".join(close)) if close else "no known flag is close to it",
                    data["label"],
                ),
                option="extra_args",
            )
    if not args:
        return args, None
    if allow_unknown_args:
        return args, "extra_args not checked against the flag catalog (allow_unknown_args: true)."
    return args, "extra_args checked against the flag catalog of %s %s." % (data["label"], version)


def _check_options(
    engine,
    port,
    served_model_name,
    hf_cache_dir,
    image,
    speculative,
    container_name,
    tensor_parallel_size,
    publish_address,
    allow_unknown_args,
    model,
):
    if engine not in ENGINE_CHOICES:
        raise PlanError(
            "engine '%s' is not known; use one of %s" % (engine, ", ".join(ENGINE_CHOICES)), option="engine"
        )
    if isinstance(model, str):
        _refuse_control(model, "model", "model")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise PlanError(
            "port %s is outside 1-65535; use a free TCP port such as %d (the default)"
            % (_describe(port), DEFAULT_PORT),
            option="port",
        )
    if tensor_parallel_size is not None and (
        not isinstance(tensor_parallel_size, int)
        or isinstance(tensor_parallel_size, bool)
        or tensor_parallel_size > TENSOR_PARALLEL_MAX
    ):
        raise PlanError(
            "tensor_parallel_size must be a whole number from 1 to %d (the GPUs of one host), found "
            "%s; leave it unset for the deployment's value" % (TENSOR_PARALLEL_MAX, _describe(tensor_parallel_size)),
            option="tensor_parallel_size",
        )
    if not isinstance(served_model_name, str) or not _SERVED_MODEL_NAME_RE.match(served_model_name):
        raise PlanError(
            "served_model_name %s must be a non-empty string without spaces, of 1 to %d letters, digits and "
            "'_', '.', ':', '/', '@', '+', '-', starting with a letter or digit (no quotes, control characters, "
            "'$' or '%%': clients send it as the model and it reaches the engine's command line), e.g. '%s' or "
            "'deepseek-ai/DeepSeek-V4-Flash'"
            % (_describe(served_model_name), SERVED_MODEL_NAME_MAX, DEFAULT_SERVED_MODEL_NAME),
            option="served_model_name",
        )
    if isinstance(hf_cache_dir, str):
        _refuse_control(hf_cache_dir, "hf_cache_dir", "hf_cache_dir")
    problem = host_dir_problem(hf_cache_dir, DEFAULT_HF_CACHE_DIR)
    if problem:
        if isinstance(hf_cache_dir, str) and hf_cache_dir and not hf_cache_dir.startswith("/"):
            # The serve role's unit runs docker as root: ~ is /root there, which is what the seed's ~ meant.
            problem = (
                "is not an absolute path; the container unit runs docker as root, where ~ is /root: use %s "
                "(the default) or another absolute directory" % DEFAULT_HF_CACHE_DIR
            )
        raise PlanError(
            "hf_cache_dir %s %s (it is mounted read-write at %s in the engine's container)"
            % (_describe(hf_cache_dir), problem, CONTAINER_HF_CACHE),
            option="hf_cache_dir",
        )
    if image is not None:
        if isinstance(image, str):
            _refuse_control(image, "image", "image")
        problem = image_problem(image)
        if problem:
            raise PlanError("image %s %s" % (_describe(image), problem), option="image")
    if speculative is not None and not isinstance(speculative, bool):
        raise PlanError(
            "speculative must be true, false or unset (the deployment's default), found %s" % _describe(speculative),
            option="speculative",
        )
    if not isinstance(allow_unknown_args, bool):
        raise PlanError(
            "allow_unknown_args must be true or false, found %s" % _describe(allow_unknown_args),
            option="allow_unknown_args",
        )
    if container_name is not None:
        if isinstance(container_name, str):
            _refuse_control(container_name, "container_name", "container_name")
        if instance_name_problem(container_name):
            raise PlanError(
                "container_name %s is not a valid container name; use %s, e.g. llmfleet-deepseek"
                % (_describe(container_name), INSTANCE_NAME_RULE),
                option="container_name",
            )
    if publish_address is None:
        publish_address = ""
    if publish_address != "":
        if isinstance(publish_address, str):
            _refuse_control(publish_address, "publish_address", "publish_address")
        problem = address_problem(publish_address)
        if problem:
            raise PlanError("publish_address %s %s" % (_describe(publish_address), problem), option="publish_address")
    return publish_address


def _default_name(served_model_name):
    """llmfleet-<served_model_name> with what a container name cannot hold replaced by '-'."""
    name = "llmfleet-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", served_model_name).lstrip("-_.")
    if instance_name_problem(name):
        raise PlanError(
            "served_model_name %s gives the container name %s, which is not valid (%s); set container_name to a "
            "name of 1 to 128 letters, digits, '_', '.' and '-', e.g. llmfleet-deepseek"
            % (_describe(served_model_name), _describe(name), INSTANCE_NAME_RULE),
            option="container_name",
        )
    return name


class _Blame:
    """Name ``option`` on a PlanError raised inside, unless the raiser named one."""

    def __init__(self, option):
        self.option = option

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, PlanError):
            exc.details.setdefault("option", self.option)
        return False


def _check_replica(replica):
    """(index, count) of a packed replica; (0, 1) for a host's only instance."""
    if replica is None:
        return 0, 1
    index, count = replica.get("index"), replica.get("count")
    for value in (index, count):
        if not isinstance(value, int) or isinstance(value, bool):
            raise PlanError(
                "replica must be {index: N, count: M} with whole numbers, found %s" % _describe(replica),
                option="replicas_per_host",
            )
    if count < 1 or not 0 <= index < count:
        raise PlanError(
            "replica index %d is outside 0..%d (count %d)" % (index, count - 1, count), option="replicas_per_host"
        )
    return index, count


def _check_gpu_ids(gpu_ids, tp):
    if (
        not isinstance(gpu_ids, list)
        or not gpu_ids
        or any(not isinstance(i, int) or isinstance(i, bool) or i < 0 for i in gpu_ids)
        or len(set(gpu_ids)) != len(gpu_ids)
    ):
        raise PlanError(
            "gpu_ids must be a list of distinct GPU indexes (whole numbers >= 0), found %s" % _describe(gpu_ids),
            option="gpu_ids",
        )
    if len(gpu_ids) != tp:
        raise PlanError(
            "gpu_ids %s names %d GPUs, but the instance shards over tensor_parallel_size %d; give it "
            "exactly %d" % (_describe(gpu_ids), len(gpu_ids), tp, tp),
            option="gpu_ids",
        )
    return list(gpu_ids)


def _fill(tokens, values):
    """Whole-token placeholders replaced, as in a deployment's command."""
    return [values.get(token, token) for token in tokens]


def _cell_tp(requested, profile, dep, build, g, multinode):
    """(tp, tp reason, memory reason) of an engine whose tensor parallel group spans the cell (SGLang)."""
    total = multinode["gpus"]
    if requested is not None and requested != total:
        raise PlanError(
            "tensor_parallel_size %d: in a cell SGLang shards over every GPU of every rank (%d hosts, "
            "%d GPUs), so --tp is %d; leave tensor_parallel_size unset (or %d)"
            % (requested, multinode["nnodes"], total, total, total)
        )
    cell_g = dict(g, count=total)
    memory_reason = _check_memory(profile, dep, build, total, [total], cell_g, scope="the cell")
    return (
        total,
        (
            "tensor_parallel_size %d: the cell's GPUs (%d hosts x %d), one tensor parallel group "
            "(deployment %s uses %d on one host)."
            % (total, multinode["nnodes"], g["count"], dep["name"], dep["tensor_parallel_size"])
        ),
        memory_reason,
    )


def _multinode_args(mn_data, multinode, g, tp, dist_base, command):
    head = multinode["head_address"]
    local = g["count"] // tp
    values = {
        "{nnodes}": str(multinode["nnodes"]),
        "{node_rank}": str(multinode["node_rank"]),
        "{head_address}": head,
        # SGLang parses '[v6]:port' (srt/server_args.py, configure_ipv6) and splits 'v4:port' on ':'.
        "{dist_init_addr}": ("[%s]:%d" if ":" in head else "%s:%d") % (head, dist_base),
        "{dist_port}": str(dist_base),
        "{dp_size}": str(local * multinode["nnodes"]),
        "{dp_size_local}": str(local),
        "{dp_start_rank}": str(local * multinode["node_rank"]),
    }
    added = [t for t in mn_data["needs"] if t not in command]
    added.extend(_fill(mn_data["args"], values))
    if multinode["node_rank"] != 0:
        added.extend(_fill(mn_data["worker_args"], values))
    return added


_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.:^=,-]{1,64}$")


def _fabric_env(plan_env, mn_data, interface):
    if not isinstance(interface, str) or not _IFNAME_RE.match(interface):
        raise PlanError(
            "fabric_interface %s is not a network interface name (or NCCL_SOCKET_IFNAME list such as "
            "'ens1f0' or '^docker,lo'); give the interface the hosts of the cell reach each other on"
            % _describe(interface),
            option="fabric_interface",
        )
    merged = dict(plan_env)
    for key in mn_data["fabric_env"]:
        if key in merged and merged[key] != interface:
            raise PlanError(
                "env.%s is %s but fabric_interface is %s; set one of them (fabric_interface sets %s)"
                % (key, show(merged[key]), show(interface), ", ".join(mn_data["fabric_env"])),
                option="fabric_interface",
            )
        merged[key] = interface
    return dict(sorted(merged.items()))


def plan_hash(plan):
    """sha256 of the canonical JSON of what makes up the running server (HASHED_KEYS)."""
    subset = {key: plan[key] for key in HASHED_KEYS}
    canonical = json.dumps(subset, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_plan(
    gpus,
    model=DEFAULT_MODEL,
    engine="auto",
    tensor_parallel_size=None,
    image=None,
    port=DEFAULT_PORT,
    served_model_name=DEFAULT_SERVED_MODEL_NAME,
    hf_cache_dir=DEFAULT_HF_CACHE_DIR,
    extra_args=None,
    env=None,
    speculative=None,
    container_name=None,
    profiles=None,
    allow_unknown_args=False,
    publish_address="",
    gpu_ids=None,
    replica=None,
    dist_port=None,
    multinode=None,
):
    """Return the plan dict (keys as in docs/architecture.md) or raise PlanError.

    The fleet planner (_fleet.py) calls this once per instance; the last four parameters are its:

    - ``gpu_ids``: the GPU indexes the instance owns (None: all of the host's, ``--gpus all``).
    - ``replica``: ``{"index": i, "count": n}`` of a packed replica; with n > 1 the port is ``port + i``, the
      name ``NAME-i`` and the engine's ``replica_args`` (dist_port + i) keep replicas apart.
    - ``dist_port``: first port of the engine's distributed traffic (None: ENGINES[engine]["dist_port"]).
    - ``multinode``: ``{"nnodes", "node_rank", "head_address", "gpus", "fabric_interface"}`` of a cell member;
      ``gpus`` is the cell's GPU count, which the memory check and SGLang's --tp use.

    With none of them the plan is the single-host plan of earlier releases, byte for byte.
    Every PlanError carries ``details['option']``: the option the user can change to fix it."""
    publish_address = _check_options(
        engine,
        port,
        served_model_name,
        hf_cache_dir,
        image,
        speculative,
        container_name,
        tensor_parallel_size,
        publish_address,
        allow_unknown_args,
        model,
    )
    index, count = _check_replica(replica)
    if dist_port is not None and (
        not isinstance(dist_port, int) or isinstance(dist_port, bool) or not 1 <= dist_port <= 65535 - max(count, 16)
    ):
        raise PlanError(
            "dist_port %s must be a TCP port from 1 to %d; leave it unset for the engine's default"
            % (_describe(dist_port), 65535 - max(count, 16)),
            option="dist_port",
        )
    if port + count - 1 > 65535:
        raise PlanError(
            "port %d + %d replicas runs past 65535 (replica ports are port + index); use a lower port" % (port, count),
            option="port",
        )
    if multinode is not None and publish_address:
        raise PlanError(
            "publish_address %s: a cell's containers use the host network (the ranks reach each other "
            "at the hosts' addresses), where a port cannot be published on one address; leave "
            "publish_address empty in a cell" % show(publish_address),
            option="publish_address",
        )
    with _Blame("profiles"):
        profile = _resolve_profile(model, profiles)
    with _Blame("gpus"):
        g = _read_gpus(gpus)
        _check_supported(model, profile, g)
    with _Blame("engine"):
        dep, engine_reason = _choose_deployment(model, profile, engine, g)
    chosen_engine = dep["engine"]
    engine_data = ENGINES[chosen_engine]
    build = profile["builds"][dep["build"]]
    reasons = [engine_reason]
    reasons.append(
        "%s (%s, compute capability %s) has %sFP4 tensor cores: using the %s %s (%s GB)."
        % (
            g["product"],
            g["architecture"],
            g["compute_capability"],
            "" if g["fp4"] else "no ",
            build.get("label", dep["build"] + " build"),
            build["model_id"],
            _gb(build["size_gb"]),
        )
    )

    mn_data = engine_data.get("multinode") if multinode is not None else None
    if multinode is not None and not mn_data:
        raise PlanError(
            "cell: %s has no multi-node data in this collection; run it per host (no cell) or use "
            "engine %s"
            % (engine_data["label"], " or ".join(sorted(e for e in ENGINES if ENGINES[e].get("multinode")))),
            option="cell",
        )
    with _Blame("tensor_parallel_size" if tensor_parallel_size is not None else "gpus"):
        if mn_data and mn_data["tensor_parallel"] == "cell":
            tp, tp_reason, memory_reason = _cell_tp(tensor_parallel_size, profile, dep, build, g, multinode)
        else:
            tp, valid, tp_reason = _choose_tp(tensor_parallel_size, dep, g)
            if mn_data:
                # Data parallel x expert parallel: the experts (nearly all of an MoE's weights) are split over
                # every GPU of the cell, so the cell's GPU count is what the weights are divided by.
                cell_g = dict(g, count=multinode["gpus"])
                memory_reason = _check_memory(
                    profile, dep, build, multinode["gpus"], [multinode["gpus"]], cell_g, scope="the cell"
                )
            else:
                memory_reason = _check_memory(profile, dep, build, tp, valid, g)

    chosen_image = image if image is not None else dep["image"]
    if image is not None and image != dep["image"]:
        reasons.append("Image %s: set by the user (deployment %s uses %s)." % (image, dep["name"], dep["image"]))
    else:
        reasons.append(
            "Image %s: deployment %s (%s)%s"
            % (
                chosen_image,
                dep["name"],
                dep.get("source", "profile data"),
                (". " + dep["note"]) if dep.get("note") else ".",
            )
        )
    with _Blame("image" if image is not None else "gpus"):
        min_driver, driver_reason = _check_image(chosen_image, g, image is not None and image != dep["image"])
    reasons.extend([tp_reason, memory_reason, driver_reason])

    spec_args = dep.get("speculative_args", [])
    spec_default = dep.get("speculative_default", bool(spec_args))
    use_spec = spec_default if speculative is None else speculative
    if use_spec and not spec_args:
        raise PlanError(
            "speculative: true, but deployment %s defines no speculative_args; leave speculative unset "
            "or add speculative_args to the deployment through the profiles option" % dep["name"],
            option="speculative",
        )
    if spec_args:
        reasons.append(
            "Speculative decoding %s (%s): %s."
            % (
                "on" if use_spec else "off",
                "the deployment's default" if speculative is None else "set by the user",
                " ".join(spec_args) if use_spec else "speculative: true would add " + " ".join(spec_args),
            )
        )

    values = {
        "{model_id}": build["model_id"],
        "{served_model_name}": served_model_name,
        "{tensor_parallel_size}": str(tp),
        "{mem_fraction}": str(dep["mem_fraction"]),
        "{port}": str(port),
    }
    port = port + index
    values["{port}"] = str(port)
    dist_base = dist_port if dist_port is not None else engine_data["dist_port"]
    command = _render_command(dep, values, use_spec)
    if "{port}" not in dep["command"] and port != engine_data["listen_port"]:
        command.extend(values.get(t, t) for t in engine_data["port_args"])
        reasons.append(
            "Port %d differs from %s's default %d: added %s."
            % (
                port,
                engine_data["label"],
                engine_data["listen_port"],
                " ".join(values.get(t, t) for t in engine_data["port_args"]),
            )
        )
    if count > 1 and engine_data["replica_args"]:
        added = _fill(engine_data["replica_args"], {"{dist_port}": str(dist_base + index)})
        command.extend(added)
        reasons.append(
            "Replica %d of %d: %s keeps its distributed port apart from the other replicas' "
            "(dist_port %d + index)." % (index, count, " ".join(added), dist_base)
        )
    if mn_data:
        added = _multinode_args(mn_data, multinode, g, tp, dist_base, command)
        command.extend(added)
        reasons.append(
            "Cell rank %d of %d (%s): %s."
            % (
                multinode["node_rank"],
                multinode["nnodes"],
                "head" if multinode["node_rank"] == 0 else "worker",
                " ".join(added),
            )
        )
    extra, extra_reason = _check_extra_args(extra_args, command, chosen_engine, dep, allow_unknown_args)
    if extra:
        command.extend(extra)
        reasons.append("extra_args appended after the deployment's flags: %s." % " ".join(extra))
        reasons.append(extra_reason)
    plan_env = _merge_env(dep.get("env", {}), env, chosen_engine)
    if env:
        reasons.append("env set by the user over the deployment's: %s." % ", ".join(sorted(str(k) for k in env)))
    if mn_data and multinode.get("fabric_interface"):
        plan_env = _fabric_env(plan_env, mn_data, multinode["fabric_interface"])
        reasons.append(
            "Fabric interface %s: %s."
            % (
                multinode["fabric_interface"],
                ", ".join("%s=%s" % (k, multinode["fabric_interface"]) for k in mn_data["fabric_env"]),
            )
        )

    name = container_name or _default_name(served_model_name)
    if count > 1:
        name = "%s-%d" % (name, index)
        if instance_name_problem(name):
            raise PlanError(
                "container_name %s with the replica suffix gives %s, which is not a valid name (%s); "
                "use a shorter container_name"
                % (_describe(container_name or served_model_name), _describe(name), INSTANCE_NAME_RULE),
                option="container_name",
            )
    volume = "%s:%s" % (hf_cache_dir, CONTAINER_HF_CACHE)
    container = {
        "name": name,
        "gpus": "all",
        "ipc": "host",
        "shm_size": dep.get("shm_size"),
        "ports": [],
        "volumes": [volume],
    }
    if gpu_ids is not None:
        ids = _check_gpu_ids(gpu_ids, tp)
        # docker --gpus reads its value as CSV: the double quotes keep "device=0,1" one field (as in
        # docker run --gpus '"device=0,1"'); podman/CDI takes one nvidia.com/gpu=N device per id.
        container["gpus"] = '"device=%s"' % ",".join(str(i) for i in ids)
        container["gpu_ids"] = ids
    if mn_data:
        # The ranks reach each other (dist-init / DP RPC, NCCL, Gloo) at the hosts' own addresses, which a
        # bridge network hides: a cell's containers share the host's network, and publish nothing.
        container["network"] = "host"
        reasons.append(
            "Cell member: the container uses the host network (--network host); port %d is the "
            "engine's own listen port there." % port
        )
    else:
        port_map = port_publish(publish_address, port)
        container["ports"] = [port_map]
        if publish_address:
            reasons.append("Port %d published on %s only (publish_address)." % (port, publish_address))
    docker_run = seed_docker_run(container, plan_env, chosen_image, command)

    plan = {
        "profile": model,
        "deployment": dep["name"],
        "engine": chosen_engine,
        "model_id": build["model_id"],
        "weights": dep["build"],
        "weights_size_gb": build["size_gb"],
        "image": chosen_image,
        "min_driver": min_driver,
        "served_model_name": served_model_name,
        "port": port,
        "publish_address": publish_address,
        "tensor_parallel_size": tp,
        "env": plan_env,
        "command": command,
        "container": container,
        "docker_run": docker_run,
        "secrets": copy.deepcopy(engine_data["secrets"]),
        "readiness": dict(profile.get("readiness", _DEFAULT_READINESS)),
        # Seconds a stop gives the engine's drain (docker stop -t, podman --stop-timeout; systemd waits 30 s
        # more). Not in HASHED_KEYS: a constant today, so no plan hash moves; the unit and quadlet read it
        # through _container_args (which also gives older plans without it the same 60).
        "stop_timeout_s": STOP_TIMEOUT_S,
    }
    plan["hash"] = plan_hash(plan)
    plan["reasons"] = reasons
    return plan
