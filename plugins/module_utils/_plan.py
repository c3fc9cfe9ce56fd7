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
import hashlib
import json
import re

from ansible_collections.llmfleet.serving.plugins.module_utils._container_args import STOP_TIMEOUT_S, seed_docker_run
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import (
    INSTANCE_NAME_RULE,
    instance_name_problem,
    replica_name,
    show,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_command import (
    _check_extra_args,
    _merge_env,
    _refuse_control,
    _render_command,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_fit import (
    _check_memory,
    _check_supported,
    _choose_deployment,
    _choose_tp,
    _gb,
    _read_gpus,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_image import _check_image
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_profile import (
    _describe,
    _resolve_profile,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import (
    ENGINES,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._references import (
    address_problem,
    host_dir_problem,
    image_problem,
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

# Readiness of a deployment whose profile does not say (the engines' own paths, an hour to load).
_DEFAULT_READINESS = {"health_path": "/health", "models_path": "/v1/models", "timeout_s": 3600}

# Upper bound of tensor_parallel_size: one server shards over the GPUs of one host, and the largest
# hosts sold have 8 (16 at most in older HGX-2 systems); 64 leaves room for any single-host design
# while a typo such as 400 is refused before the GPU count is even read.
TENSOR_PARALLEL_MAX = 64
# What clients send as `model`: Hugging Face style names ('org/model-v4.1', 'deepseek'), no
# whitespace, quotes, control characters, '$', '%' or '\\' (it reaches a command line and a unit).
SERVED_MODEL_NAME_MAX = 128
_SERVED_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,%d}$" % (SERVED_MODEL_NAME_MAX - 1))


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
    hub_offline="",
):
    """Return the plan dict (keys as in docs/architecture.md) or raise PlanError.

    The fleet planner (_fleet.py) calls this once per instance; the last five parameters are its:

    - ``gpu_ids``: the GPU indexes the instance owns (None: all of the host's, ``--gpus all``).
    - ``replica``: ``{"index": i, "count": n}`` of a packed replica; with n > 1 the port is ``port + i``, the
      name ``replica_name(NAME, i)`` (NAME, NAME-1, NAME-2, ...) and the engine's ``replica_args``
      (dist_port + i) keep replicas apart.
    - ``dist_port``: first port of the engine's distributed traffic (None: ENGINES[engine]["dist_port"]).
    - ``multinode``: ``{"nnodes", "node_rank", "head_address", "gpus", "fabric_interface"}`` of a cell member;
      ``gpus`` is the cell's GPU count, which the memory check and SGLang's --tp use.
    - ``hub_offline``: why the build is already on the host (a sentence), or "" (the default). Non-empty: the
      env gets ``HF_HUB_OFFLINE=1`` (unless ``env`` sets HF_HUB_OFFLINE itself) and the sentence is a reason.

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
    if hub_offline:
        # The engine then loads the build from the cache only: no hub round trip at start, no download
        # inside the restart window. A user's own HF_HUB_OFFLINE (env) is theirs to keep.
        if "HF_HUB_OFFLINE" in plan_env:
            reasons.append(
                "%s; env sets HF_HUB_OFFLINE=%s itself, which is kept." % (hub_offline, plan_env["HF_HUB_OFFLINE"])
            )
        else:
            plan_env = dict(sorted(dict(plan_env, HF_HUB_OFFLINE="1").items()))
            reasons.append(
                "%s: the engine runs with HF_HUB_OFFLINE=1 (loads the build from the cache only)." % hub_offline
            )
    if mn_data and multinode.get("fabric_interface"):
        plan_env = _fabric_env(plan_env, mn_data, multinode["fabric_interface"])
        reasons.append(
            "Fabric interface %s: %s."
            % (
                multinode["fabric_interface"],
                ", ".join("%s=%s" % (k, multinode["fabric_interface"]) for k in mn_data["fabric_env"]),
            )
        )

    name = replica_name(container_name or _default_name(served_model_name), index)
    # Replica 0 is the base name, checked above; the suffix of replicas 1.. can push a name past the limit.
    if index > 0 and instance_name_problem(name):
        raise PlanError(
            "container_name %s with the replica suffix -%d gives %s (%d characters), which is not a valid name (%s); "
            "use a shorter container_name"
            % (_describe(container_name or served_model_name), index, _describe(name), len(name), INSTANCE_NAME_RULE),
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
