# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight's verdict: the fleet plan against what every host reported (host_preflight), on the controller.

Pure: ``problems(fleet, findings)`` returns one line per problem, ``HOST: what was found; what would work``
(``cell NAME: ...`` for a cell as a whole), in fleet order, so one failed play lists everything to fix at once.
``findings`` maps an inventory host to::

    {"gather": <host_preflight result>, "gpus": <llmfleet_gpus fact>,
     "connect": <host_preflight connect result, cell workers>, "listen": <listen result, cell heads>}

A cell that already runs (its head's dist port held by our own container of that cell, as the head's gather shows)
is not probed: a connect would reach the live engine's rendezvous port (SGLang's torch TCPStore, vLLM's DP RPC
port). The running cell shows its ranks reach the head; ``running_cell`` tells it, for the playbook and the verdict.

Hosts of the fleet without findings (outside the play, e.g. --limit) are not judged, except where a worker
could not reach a head that was not in the play: that line says so.
"""

from __future__ import annotations

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import _claims, gpu_ranges
from ansible_collections.llmfleet.serving.plugins.module_utils._host_probe import DOCKER_TOOLKIT_BINARIES
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import CONTAINER_HF_CACHE
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_image import _version_tuple
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import ENGINES

GB = 1000**3  # profiles give weights_size_gb in GB (10^9 bytes), as the model hubs do
CDI_GENERATE = "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"


def _gb(n):
    return "%.1f GB" % (n / GB)


def weights_dir(instance):
    """The host directory the instance mounts as its Hugging Face cache."""
    suffix = ":" + CONTAINER_HF_CACHE
    for volume in instance.get("container", {}).get("volumes") or []:
        if volume.endswith(suffix):
            return volume[: -len(suffix)]
    return None


def instance_ports(instance, fleet):
    """[(port, what)] the instance listens on at its host - the fleet planner's own rule (_fleet._claims)."""
    engine = ENGINES[instance["engine"]]
    base = None
    if instance["role"] == "head":
        base = fleet.get("cells", {}).get(instance["cell"], {}).get("dist_port")
    elif instance["role"] == "standalone" and instance["gpu_ids"] != "all" and engine["replica_args"]:
        # The replica's own distributed port is in its command (dist_port + index); read it back from there.
        flag, command = engine["replica_args"][0], instance.get("command") or []
        if flag in command[:-1]:
            base = int(command[command.index(flag) + 1]) - instance["index"]
    return _claims(instance, {"dist_port": base if base is not None else engine["dist_port"]})


def _runtime_problems(host, gather, instances):
    runtime = gather.get("runtime") or {}
    name = runtime.get("name") or "docker"
    out = []
    if not runtime.get("found"):
        out.append(
            "%s: container runtime %s not found (PATH and /usr/bin, /usr/local/bin, /usr/sbin); install %s "
            "(with the NVIDIA container toolkit), or set serve_runtime to the runtime the host has"
            % (host, name, "docker (docker.io or docker-ce)" if name == "docker" else "podman (>= 4.4, for quadlets)")
        )
    elif name == "docker" and not (runtime.get("daemon") or {}).get("reachable"):
        out.append(
            "%s: docker %s is installed but its daemon does not answer (docker info: %s); start it "
            "(systemctl enable --now docker) and check that the play's user may use /var/run/docker.sock "
            "(become: true)"
            % (
                host,
                runtime.get("version") or "(version unknown)",
                (runtime.get("daemon") or {}).get("error") or "no answer",
            )
        )
    toolkit = gather.get("toolkit") or {}
    binaries = toolkit.get("binaries") or {}
    cdi = toolkit.get("cdi") or {}
    if name == "docker":
        runtimes = (runtime.get("daemon") or {}).get("runtimes") or []
        if not any(binaries.get(b) for b in DOCKER_TOOLKIT_BINARIES) and "nvidia" not in runtimes:
            out.append(
                "%s: no NVIDIA container toolkit for docker: neither %s on PATH, and docker info lists no "
                "nvidia runtime (runtimes: %s); install nvidia-container-toolkit (docker run --gpus needs "
                "its hook) and restart docker"
                % (host, " nor ".join(DOCKER_TOOLKIT_BINARIES), ", ".join(runtimes) or "none read")
            )
        return out
    needed = []
    for i in instances:
        ids = i.get("container", {}).get("gpu_ids")
        for d in ["all"] if not isinstance(ids, list) else [str(n) for n in ids]:
            device = "nvidia.com/gpu=%s" % d
            if device not in needed:
                needed.append(device)
    dirs = ", ".join(cdi.get("dirs") or []) or "the CDI directories"
    if not cdi.get("specs"):
        out.append(
            "%s: podman finds no CDI spec for nvidia.com/gpu in %s, so the planned devices %s cannot be "
            "added to the containers%s; generate it on the host: %s (nvidia-container-toolkit >= 1.12)"
            % (
                host,
                dirs,
                ", ".join(needed),
                (" (unreadable: %s)" % "; ".join(cdi["errors"])) if cdi.get("errors") else "",
                CDI_GENERATE,
            )
        )
        return out
    defined = cdi.get("devices") or []
    for i in instances:
        ids = i.get("container", {}).get("gpu_ids")
        wants = ["nvidia.com/gpu=%s" % d for d in (["all"] if not isinstance(ids, list) else ids)]
        missing = [w for w in wants if w not in defined]
        if missing:
            out.append(
                "%s: %s needs the CDI devices %s, which %s do%s not define (defined: %s); regenerate the "
                "spec with index names (the default device-name-strategy): %s"
                % (
                    host,
                    i["name"],
                    ", ".join(missing),
                    ", ".join(cdi["specs"]),
                    "es" if len(cdi["specs"]) == 1 else "",
                    ", ".join(defined) or "none",
                    CDI_GENERATE,
                )
            )
    return out


def _driver_problems(host, gpus, instances):
    driver = (gpus or {}).get("driver_version")
    found = _version_tuple(driver) if driver else ()
    if not found:
        return []
    out = []
    for i in instances:
        floor = i.get("min_driver")
        if floor and found[0] < int(str(floor).split(".", maxsplit=1)[0]):
            out.append(
                "%s: NVIDIA driver %s is older than %s, which %s's image %s needs (its CUDA); upgrade the "
                "driver to %s or newer, or set serve_image to an image built for the CUDA this driver "
                "supports (%s)"
                % (host, driver, floor, i["name"], i["image"], floor, (gpus or {}).get("cuda_version") or "unknown")
            )
            break  # the instances of one host share the image: one line says it
    return out


def _disk_problems(host, gather, instances, headroom_gb):
    by_dir = {}
    for i in instances:
        d = weights_dir(i)
        if d is not None:
            by_dir.setdefault(d, {}).setdefault(i["model_id"], i.get("weights_size_gb") or 0)
    reported = {w.get("dir"): w for w in gather.get("weights") or []}
    out = []
    for d, models in by_dir.items():
        w = reported.get(d)
        if not w or w.get("free_bytes") is None:
            out.append(
                "%s: the free space under the weights directory %s was not read (%s); check that the "
                "path is right (serve_hf_cache_dir) and readable by the play's user"
                % (host, d, (w or {}).get("error") or "not gathered")
            )
            continue
        status = {m.get("model_id"): m for m in w.get("models") or []}
        need, parts = 0, []
        for model_id, size_gb in models.items():
            s = status.get(model_id) or {}
            if s.get("present"):
                continue
            have = s.get("bytes") or 0
            missing = max(0, int(size_gb * GB) - have)
            need += missing
            parts.append("%s (%s GB%s)" % (model_id, size_gb, (", %s there already" % _gb(have)) if have else ""))
        if not parts:
            continue
        headroom = int(headroom_gb * GB)
        if need + headroom > w["free_bytes"]:
            out.append(
                "%s: not enough free disk for the weights under %s: the filesystem of %s has %s free, the "
                "download of %s needs %s%s; free %s there, or set serve_hf_cache_dir to a filesystem with "
                "room, or put the weights there first"
                % (
                    host,
                    d,
                    w.get("checked_path") or d,
                    _gb(w["free_bytes"]),
                    ", ".join(parts),
                    _gb(need),
                    (" + %s headroom (preflight_disk_headroom_gb)" % _gb(headroom)) if headroom else "",
                    _gb(need + headroom - w["free_bytes"]),
                )
            )
    return out


def _port_problems(host, gather, instances, fleet):
    ours = {i["name"] for i in instances}
    # Containers the serve role made (its label) are replaced by it, so the ports they hold are ours too.
    ours.update(c.get("name") for c in gather.get("containers") or [] if c.get("llmfleet"))
    claims = []
    for i in instances:
        claims.extend((port, what, i["name"]) for port, what in instance_ports(i, fleet))
    planned = sorted({claim[0] for claim in claims})
    listeners = {}
    for item in gather.get("listeners") or []:
        listeners.setdefault(item.get("port"), []).append(item)
    published = {}
    for c in gather.get("containers") or []:
        for port in c.get("host_ports") or []:
            published.setdefault(port, []).append(c.get("name"))
    out = []
    for port, what, name in claims:
        holders = []
        for item in listeners.get(port, []):
            if item.get("container") in ours:
                continue
            if item.get("container"):
                who = "container %s (%s, pid %s)" % (item["container"], item.get("process") or "?", item.get("pid"))
            elif item.get("pid") is not None:
                who = "%s (pid %s)" % (item.get("process") or "?", item["pid"])
            else:
                who = "a process this user cannot see (run with become: true to name it)"
            who += " on %s" % item.get("address")
            if who not in holders:
                holders.append(who)
        for cname in published.get(port, []):
            if cname not in ours and not any(cname in h for h in holders):
                holders.append("container %s (publishes it)" % cname)
        if holders:
            out.append(
                "%s: port %d (%s of %s) is taken by %s; stop that, or move serve_port / serve_dist_port "
                "(this host's instances claim %s)" % (host, port, what, name, "; ".join(holders), gpu_ranges(planned))
            )
    return out


def running_cell(fleet, cell, head_gather):
    """The name of our container of ``cell`` that holds the cell's dist port on its head, as the head's gather
    (host_preflight) shows it; None when the port is free or held by anything else.

    Ours: a running container the serve role made (its label, ``llmfleet`` in the gather) with the name the plan
    gives the cell's engine on the head."""
    info = (fleet.get("cells") or {}).get(cell) or {}
    head, dist = info.get("head"), info.get("dist_port")
    if not head or dist is None or not isinstance(head_gather, dict):
        return None
    names = {
        (i.get("container") or {}).get("name")
        for i in ((fleet.get("hosts") or {}).get(head) or {}).get("instances") or []
        if i.get("cell") == cell
    }
    ours = {c.get("name") for c in head_gather.get("containers") or [] if c.get("llmfleet")} & names
    for item in head_gather.get("listeners") or []:
        if item.get("port") == dist and item.get("container") in ours:
            return item["container"]
    return None


def _cell_problems(fleet, findings):
    out = []
    hosts = fleet.get("hosts") or {}
    for cell, info in sorted((fleet.get("cells") or {}).items()):
        members = list(info.get("hosts") or [])
        roles = {}
        for h, entry in hosts.items():
            for i in entry.get("instances") or []:
                if i.get("cell") == cell:
                    roles.setdefault(h, []).append(i.get("role"))
        heads = sorted(h for h, r in roles.items() if "head" in r)
        if len(heads) != 1:
            out.append(
                "cell %s: %s; exactly one host is the head (serve_node_rank 0): re-plan with "
                "llmfleet.serving.fleet_plan" % (cell, ("heads on %s" % ", ".join(heads)) if heads else "no head")
            )
        absent = [h for h in members if h not in roles]
        extra = sorted(h for h in roles if h not in members)
        if absent or extra:
            out.append(
                "cell %s: ranks %s; the plan's ranks must be complete (%s): re-plan with "
                "llmfleet.serving.fleet_plan"
                % (
                    cell,
                    "; ".join(
                        (["missing on %s" % ", ".join(absent)] if absent else [])
                        + (["%s not listed in the cell" % ", ".join(extra)] if extra else [])
                    ),
                    ", ".join(members),
                )
            )
        seen = [h for h in members if h in findings and findings[h].get("gpus")]
        for key, what in (("product", "GPU model"), ("driver_version", "driver")):
            values = {}
            for h in seen:
                values.setdefault(str(findings[h]["gpus"].get(key)), []).append(h)
            if len(values) > 1:
                out.append(
                    "cell %s: the hosts report different %ss now: %s; every rank needs the same GPU model "
                    "and driver: align them, or re-plan with the hosts in separate cells"
                    % (cell, what, "; ".join("%s on %s" % (v, ", ".join(hs)) for v, hs in sorted(values.items())))
                )
        head = info.get("head")
        engine = ENGINES.get(info.get("engine"), {})
        span = engine.get("dist_port_span", 1)
        dist = info.get("dist_port")
        ports = ("%d" % dist) if span <= 1 else "%d-%d" % (dist, dist + span - 1)
        # The cell runs already: its ranks reached the head (no probe touched the live engine's port).
        running = running_cell(fleet, cell, (findings.get(head) or {}).get("gather")) if head in findings else None
        for worker in members:
            if worker == head or worker not in findings or running:
                continue
            result = findings[worker].get("connect")
            if not result:
                out.append(
                    "%s: the connection to the head %s of cell %s was not tried; run preflight with the "
                    "whole cell in the play" % (worker, head, cell)
                )
                continue
            if result.get("connected"):
                continue
            out.append(
                "%s: cannot open a TCP connection to the head %s of cell %s at %s:%s (%s, %d attempts in "
                "%.1f s)%s; open TCP %s from %s to %s (firewall, security group), or give %s an address "
                "the workers route to (its ansible_host / fleet address), and check serve_fabric_interface"
                % (
                    worker,
                    head,
                    cell,
                    result.get("host"),
                    result.get("port"),
                    result.get("error"),
                    result.get("attempts") or 0,
                    result.get("seconds") or 0,
                    ""
                    if head in findings
                    else "; the head is not in this play, so no probe listened there: "
                    "run preflight with the whole cell",
                    ports,
                    worker,
                    head,
                    head,
                )
            )
    return out


def problems(fleet, findings, disk_headroom_gb=0):
    """Every problem, one line each; [] when every host in ``findings`` is ready for its planned instances."""
    out = []
    for host, entry in (fleet.get("hosts") or {}).items():
        f = findings.get(host)
        if not f:
            continue
        instances = entry.get("instances") or []
        gather = f.get("gather") or {}
        out.extend(_runtime_problems(host, gather, instances))
        out.extend(_driver_problems(host, f.get("gpus"), instances))
        out.extend(_disk_problems(host, gather, instances, disk_headroom_gb))
        out.extend(_port_problems(host, gather, instances, fleet))
    out.extend(_cell_problems(fleet, findings))
    return out


def probe_args(fleet, host):
    """What host_preflight should look at on ``host`` and its part in a cell's reachability check.

    {hf_cache_dirs, models, ports, role, cell, head, head_address, dist_port, workers}: role is standalone, head,
    worker or None (the host has nothing planned); workers is the number of the cell's other ranks."""
    entry = (fleet.get("hosts") or {}).get(host) or {}
    instances = entry.get("instances") or []
    dirs, models, ports = [], [], set()
    for i in instances:
        d = weights_dir(i)
        if d is not None and d not in dirs:
            dirs.append(d)
        if i.get("model_id") and i["model_id"] not in models:
            models.append(i["model_id"])
        ports.update(claim[0] for claim in instance_ports(i, fleet))
    out = {
        "hf_cache_dirs": dirs,
        "models": models,
        "ports": sorted(ports),
        "role": None,
        "cell": None,
        "head": None,
        "head_address": None,
        "dist_port": None,
        "workers": 0,
    }
    cells = [i for i in instances if i.get("cell")]
    if cells:
        cell = cells[0]["cell"]
        info = (fleet.get("cells") or {}).get(cell) or {}
        out.update(
            role=cells[0]["role"],
            cell=cell,
            head=info.get("head"),
            head_address=info.get("head_address"),
            dist_port=info.get("dist_port"),
            workers=max(0, len(info.get("hosts") or []) - 1),
        )
    elif instances:
        out["role"] = "standalone"
    return out


def narrowed(gather, args, runtime=None):
    """What host_preflight would have returned for ``args`` (probe_args), picked out of a wider read of the same
    host (``all_ports``, ``all_models``, made before the plan existed); None when that read does not cover them
    (another runtime, a weights directory or a planned model it did not look at): then the host is read again.

    The result is the wider read with the listeners of ``args``' ports only and, per weights directory of
    ``args`` (in their order), its models of ``args`` only, so the verdict and the summary see what a read for
    ``args`` gives."""
    if not isinstance(gather, dict) or not isinstance(gather.get("runtime"), dict) or "weights" not in gather:
        return None
    if runtime and gather["runtime"].get("name") != runtime:
        return None
    by_dir = {w.get("dir"): w for w in gather.get("weights") or []}
    weights = []
    for d in args.get("hf_cache_dirs") or []:
        w = by_dir.get(d)
        if w is None:
            return None
        models = {m.get("model_id"): m for m in w.get("models") or []}
        if any(m not in models for m in args.get("models") or []):
            return None
        weights.append(dict(w, models=[models[m] for m in args.get("models") or []]))
    ports = set(args.get("ports") or [])
    out = {k: v for k, v in gather.items() if k in ("runtime", "toolkit", "containers")}
    out.update(
        changed=False,
        weights=weights,
        listeners=[item for item in gather.get("listeners") or [] if item.get("port") in ports],
    )
    return out
