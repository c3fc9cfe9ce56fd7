# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet planner: every host's GPU facts and choices -> one plan for the whole inventory.

Pure and standard-library only, like ``_plan.py``, which makes every instance's plan: this module only
decides how many instances each host runs, which GPUs, ports and names they get, and which hosts form a
cell (one engine over several hosts), then calls ``build_plan`` once per instance. No flag is built here.
The keys of the result are the ``fleet`` contract in docs/architecture.md.
"""

from __future__ import annotations

import copy

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import control_character, show
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import DEFAULT_HF_CACHE_DIR, build_plan
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_options import PLAN_CHOICES_SPEC
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import ENGINES

# The serving_plan options a host's `choices` may hold (what each host would give serving_plan).
CHOICE_KEYS = (
    "model",
    "engine",
    "tensor_parallel_size",
    "image",
    "port",
    "served_model_name",
    "hf_cache_dir",
    "extra_args",
    "env",
    "speculative",
    "container_name",
    "profiles",
    "publish_address",
    "allow_unknown_args",
)
# A host's choices are read with serving_plan's own argument spec (types and defaults): one spec.
CHOICES_SPEC = PLAN_CHOICES_SPEC
# A host entry's keys; the serve role's variables are these with the prefix serve_ (serve_replicas_per_host...).
HOST_KEYS = (
    "gpus",
    "address",
    "choices",
    "replicas_per_host",
    "cell",
    "node_rank",
    "fabric_interface",
    "dist_port",
    "local_builds",
    "hf_hub_offline",
)
# What every rank of a cell must agree on: they run one engine together.
_CELL_SAME = ("engine", "image", "model_id", "tensor_parallel_size", "served_model_name", "port")


def read_choices(hosts):
    """``hosts`` with every host's choices read as serving_plan reads its options (types, defaults)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    if not isinstance(hosts, dict):
        return hosts
    out = {}
    for name, entry in hosts.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("choices", {}) or {}, dict):
            out[name] = entry
            continue
        result = ArgumentSpecValidator(CHOICES_SPEC).validate(dict(entry.get("choices") or {}))
        if result.error_messages:
            _fail("hosts.%s.choices: %s" % (name, result.error_messages[0]), host=name, option="choices")
        out[name] = dict(entry, choices=result.validated_parameters)
    return out


def _fail(msg, host=None, cell=None, option=None):
    details = {}
    if host is not None:
        details["host"] = host
    if cell is not None:
        details["cell"] = cell
    if option is not None:
        details["option"] = option
    raise PlanError(msg, **details)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _whole_from_text(value):
    """'2' -> 2: a number given on the command line (-e serve_replicas_per_host=2) arrives as text."""
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return value


def _check_host(name, entry):
    """The host entry with defaults filled in, or PlanError naming the host and the key."""
    if not isinstance(entry, dict):
        _fail(
            "hosts.%s must be a mapping with gpus, address and choices, found %s" % (name, type(entry).__name__),
            host=name,
            option="hosts",
        )
    unknown = sorted(str(k) for k in entry if k not in HOST_KEYS)
    if unknown:
        _fail(
            "hosts.%s: key '%s' is not known; known keys: %s" % (name, unknown[0], ", ".join(HOST_KEYS)),
            host=name,
            option="hosts",
        )
    if not isinstance(entry.get("gpus"), dict):
        _fail(
            "hosts.%s.gpus must be the host's llmfleet_gpus fact (a mapping, set by llmfleet.serving.gpu_facts), "
            "found %s; gather facts on every host before planning the fleet" % (name, show(entry.get("gpus"))),
            host=name,
            option="gpus",
        )
    address = entry.get("address")
    if (
        not isinstance(address, str)
        or not address
        or control_character(address)
        or any(c.isspace() for c in address)
        or "/" in address
    ):
        _fail(
            "hosts.%s.address %s must be the address other hosts and clients reach this host at (an IP address "
            "or a DNS name, e.g. ansible_host), without spaces" % (name, show(address)),
            host=name,
            option="address",
        )
    choices = entry.get("choices") or {}
    if not isinstance(choices, dict):
        _fail(
            "hosts.%s.choices must be a mapping of serving_plan options, found %s" % (name, show(choices)),
            host=name,
            option="choices",
        )
    unknown = sorted(str(k) for k in choices if k not in CHOICE_KEYS)
    if unknown:
        _fail(
            "hosts.%s.choices: '%s' is not a serving_plan option this planner passes on; options: %s"
            % (name, unknown[0], ", ".join(CHOICE_KEYS)),
            host=name,
            option="choices",
        )
    replicas = _whole_from_text(entry.get("replicas_per_host", "auto"))
    if replicas is None:
        replicas = "auto"
    if replicas != "auto" and (not _is_int(replicas) or replicas < 1):
        _fail(
            "replicas_per_host %s on host %s must be 'auto' (as many replicas as the GPUs hold) or a whole "
            "number >= 1" % (show(replicas), name),
            host=name,
            option="replicas_per_host",
        )
    cell = entry.get("cell")
    if cell is not None and (not isinstance(cell, str) or not cell or control_character(cell)):
        _fail(
            "cell %s on host %s must be a non-empty name shared by the hosts that run one engine together, or "
            "null" % (show(cell), name),
            host=name,
            option="cell",
        )
    rank = _whole_from_text(entry.get("node_rank"))
    if rank is not None and (not _is_int(rank) or rank < 0):
        _fail(
            "node_rank %s on host %s must be a whole number >= 0 (0 is the cell's head), or null for inventory "
            "order" % (show(rank), name),
            host=name,
            option="node_rank",
        )
    if rank is not None and cell is None:
        _fail(
            "node_rank %d on host %s, which is in no cell; set cell on the hosts that run one engine together, "
            "or remove node_rank" % (rank, name),
            host=name,
            option="node_rank",
        )
    fabric = entry.get("fabric_interface")
    if fabric is not None and cell is None:
        _fail(
            "fabric_interface %s on host %s, which is in no cell; it names the interface the ranks of a cell "
            "talk over: set cell or remove fabric_interface" % (show(fabric), name),
            host=name,
            option="fabric_interface",
        )
    return {
        "gpus": entry["gpus"],
        "address": address,
        "choices": dict(choices),
        "replicas_per_host": replicas,
        "cell": cell,
        "node_rank": rank,
        "fabric_interface": fabric,
        "dist_port": _whole_from_text(entry.get("dist_port")),
        "local_builds": _check_local_builds(name, entry.get("local_builds")),
        "hf_hub_offline": _check_hub_offline(name, entry.get("hf_hub_offline")),
    }


def _check_local_builds(name, builds):
    """The builds the weights role verified on the host ([] when none): each {model_id, cache_dir, ...}."""
    if builds is None:
        return []
    if not isinstance(builds, list):
        _fail(
            "hosts.%s.local_builds must be a list of the builds verified on the host, each {model_id, cache_dir, "
            "revision, commit} (the llmfleet_weights fact's builds), found %s" % (name, show(builds)),
            host=name,
            option="local_builds",
        )
    out = []
    for i, build in enumerate(builds):
        model_id = build.get("model_id") if isinstance(build, dict) else None
        cache_dir = build.get("cache_dir") if isinstance(build, dict) else None
        if (
            not isinstance(model_id, str)
            or "/" not in model_id
            or not isinstance(cache_dir, str)
            or not cache_dir.startswith("/")
        ):
            _fail(
                "hosts.%s.local_builds[%d] %s must be a mapping with model_id (ORG/NAME, the hub repository) and "
                "cache_dir (the absolute Hugging Face cache directory it was verified in), as the weights role "
                "records them (llmfleet_weights.builds)" % (name, i, show(build)),
                host=name,
                option="local_builds",
            )
        revision = build.get("revision")
        commit = build.get("commit")
        out.append(
            {
                "model_id": model_id,
                "cache_dir": _norm_dir(cache_dir),
                "revision": revision if isinstance(revision, str) else None,
                "commit": commit if isinstance(commit, str) else None,
            }
        )
    return out


def _check_hub_offline(name, value):
    """hf_hub_offline: 'auto' (None too), True or False; the strings true/false of -e are read as booleans."""
    if value is None:
        return "auto"
    if isinstance(value, str) and value.strip().lower() in ("auto", "true", "false", "yes", "no"):
        word = value.strip().lower()
        return "auto" if word == "auto" else word in ("true", "yes")
    if isinstance(value, bool):
        return value
    _fail(
        "hf_hub_offline %s on host %s must be auto (HF_HUB_OFFLINE=1 when the weights role verified the plan's "
        "build in its hf_cache_dir), true (always: the weights are there) or false (never)" % (show(value), name),
        host=name,
        option="hf_hub_offline",
    )


def _norm_dir(path):
    return path.rstrip("/") or "/"


def _engine_revision(plan):
    """The revision the engine loads: its --revision, else main (the plan passes none by default)."""
    command = plan.get("command") or []
    for i, token in enumerate(command):
        if token == "--revision" and i + 1 < len(command):
            return command[i + 1]
        if isinstance(token, str) and token.startswith("--revision="):
            return token.split("=", 1)[1]
    return "main"


def _local_build(entry, plan):
    """(build, why-not) for the plan's build on the host: the verified build that counts, else None and, when
    the host has the model elsewhere or at another revision, why it does not count."""
    cache = _norm_dir(entry["choices"].get("hf_cache_dir") or DEFAULT_HF_CACHE_DIR)
    revision = _engine_revision(plan)
    same_model = [b for b in entry["local_builds"] if b["model_id"] == plan["model_id"]]
    for build in same_model:
        if build["cache_dir"] == cache and revision in (build["revision"], build["commit"]):
            return build, None
    if not same_model:
        return None, None
    build = same_model[0]
    if build["cache_dir"] != cache:
        return None, "verified in %s, but the plan's hf_cache_dir is %s" % (build["cache_dir"], cache)
    return None, "verified at revision %s, but the engine loads revision %s" % (build["revision"], revision)


def hub_offline(plans, hosts, cell=None):
    """(reason, fleet reason) for the instances of ``plans`` (host -> its first plan; every host of a cell):
    reason is the sentence build_plan gets for HF_HUB_OFFLINE=1, or "" (the env stays as it was, so a host
    that never ran the weights role keeps its plan hash); fleet reason is a line for the fleet, or None."""
    names = list(plans)
    where = ("cell %s" % cell) if cell else ("host %s" % names[0])
    forced = {n: hosts[n]["hf_hub_offline"] for n in names if hosts[n]["hf_hub_offline"] != "auto"}
    if forced:
        # The user's word, per host; on a cell every rank must agree, or some ranks would reach the hub.
        values = set(forced.values())
        if len(values) > 1 or len(forced) != len(names):
            _fail(
                "cell %s: hf_hub_offline is %s; the ranks of a cell load one build together: set the same "
                "hf_hub_offline (true, false or auto) on every host of the cell"
                % (cell, ", ".join("%s on %s" % (str(hosts[n]["hf_hub_offline"]).lower(), n) for n in names)),
                cell=cell,
                option="hf_hub_offline",
            )
        if values.pop():
            reason = "hf_hub_offline true on %s" % where
            return reason, "%s: hf_hub_offline true: HF_HUB_OFFLINE=1 (the build must be in the cache)." % where
        return "", "%s: hf_hub_offline false: HF_HUB_OFFLINE left unset." % where
    found, missing = {}, {}
    for n in names:
        build, why = _local_build(hosts[n], plans[n])
        if build is not None:
            found[n] = build
        else:
            missing[n] = why or "not verified by the weights role"
    model = plans[names[0]]["model_id"]
    if not missing:
        build = found[names[0]]
        reason = "%s@%s verified in %s on %s by the weights role (%s)" % (
            model,
            (build["commit"] or build["revision"] or "?")[:12],
            build["cache_dir"],
            ("every host of cell %s" % cell) if cell else ("host %s" % names[0]),
            "llmfleet_weights",
        )
        return reason, "%s: %s local: HF_HUB_OFFLINE=1." % (where, model)
    if not any(hosts[n]["local_builds"] for n in names):
        return "", None
    return "", "%s: %s stays on the hub (HF_HUB_OFFLINE unset): %s." % (
        where,
        model,
        "; ".join("%s: %s" % (n, why) for n, why in missing.items()),
    )


def _order(hosts, order):
    if order is None:
        return sorted(hosts)
    if not isinstance(order, list) or any(not isinstance(h, str) for h in order):
        _fail(
            "order must be the list of inventory host names (e.g. ansible_play_hosts_all), found %s" % show(order),
            option="order",
        )
    seen = [h for h in order if h in hosts]
    # Hosts the order does not name (it came from another play) go last, sorted, so the plan stays the same.
    return list(dict.fromkeys(seen)) + sorted(h for h in hosts if h not in order)


def _device_ids(gpus):
    devices = gpus.get("devices") or []
    ids = [d.get("index") for d in devices if isinstance(d, dict)]
    count = gpus.get("count")
    if _is_int(count) and len(ids) == count and all(_is_int(i) for i in ids):
        return sorted(ids)
    return list(range(count)) if _is_int(count) and count >= 0 else []


def _plan(host, cell, **kwargs):
    """build_plan, with the host (and cell) named in a refusal."""
    try:
        return build_plan(**kwargs)
    except PlanError as exc:
        where = ("cell %s, host %s" % (cell, host)) if cell else ("host %s" % host)
        exc.msg = "%s: %s" % (where, exc.msg)
        exc.args = (exc.msg,)
        exc.details.setdefault("host", host)
        if cell:
            exc.details.setdefault("cell", cell)
        raise


def gpu_ranges(ids):
    """[0, 1, 2, 3, 6] -> '0-3,6' (also the fleet summary's "Uses" column, plugins/filter/fleet_summary.py)."""
    runs = []  # [first, last] of each run of consecutive indexes
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in runs)


def _instance(plan, index, gpu_ids, role, cell, serves_http):
    instance = copy.deepcopy(plan)
    instance.update(
        {
            "name": plan["container"]["name"],
            "index": index,
            "gpu_ids": gpu_ids,
            "role": role,
            "cell": cell,
            "serves_http": serves_http,
        }
    )
    return instance


def _plan_standalone(name, h, reasons):
    gpus = h["gpus"]
    first = _plan(name, None, gpus=gpus, dist_port=h["dist_port"], **h["choices"])
    offline, offline_line = hub_offline({name: first}, {name: h})
    if offline:
        first = _plan(name, None, gpus=gpus, dist_port=h["dist_port"], hub_offline=offline, **h["choices"])
    tp = first["tensor_parallel_size"]
    ids = _device_ids(gpus)
    fit = len(ids) // tp
    wanted = h["replicas_per_host"]
    if wanted == "auto":
        count = fit
    elif wanted > fit:
        _fail(
            "replicas_per_host %d on host %s: %d GPUs hold %d replica%s of tensor_parallel_size %d (each replica "
            "owns its GPUs); use replicas_per_host %d (or auto), or a smaller tensor_parallel_size"
            % (wanted, name, len(ids), fit, "" if fit == 1 else "s", tp, fit),
            host=name,
            option="replicas_per_host",
        )
    else:
        count = wanted
    if count == 1:
        # One replica is the single-host plan of serving_plan, unchanged: --gpus all, the plain name and port.
        instances = [_instance(first, 0, "all", "standalone", None, True)]
        used = ids[:tp]
    else:
        instances = []
        for index in range(count):
            owned = ids[index * tp : (index + 1) * tp]
            plan = _plan(
                name,
                None,
                gpus=gpus,
                gpu_ids=owned,
                replica={"index": index, "count": count},
                dist_port=h["dist_port"],
                hub_offline=offline,
                **h["choices"],
            )
            instances.append(_instance(plan, index, owned, "standalone", None, True))
        used = ids[: count * tp]
    idle = [i for i in ids if i not in used]
    reasons.append(
        "host %s: %d replica%s of tensor_parallel_size %d on %d x %s (replicas_per_host %s)%s."
        % (
            name,
            count,
            "" if count == 1 else "s",
            tp,
            len(ids),
            gpus.get("product"),
            wanted,
            ("; GPUs %s idle: replicas_per_host %s leaves them unused" % (gpu_ranges(idle), wanted)) if idle else "",
        )
    )
    if offline_line:
        reasons.append(offline_line)
    return instances, used, idle


def _rank_order(cell, members, hosts):
    ranks = {m: hosts[m]["node_rank"] for m in members}
    given = [m for m in members if ranks[m] is not None]
    if not given:
        return list(members)
    if len(given) != len(members):
        missing = [m for m in members if ranks[m] is None]
        _fail(
            "cell %s: node_rank is set on %s but not on %s; set it on every host of the cell (0 to %d) or on none "
            "(inventory order)" % (cell, ", ".join(given), ", ".join(missing), len(members) - 1),
            cell=cell,
            option="node_rank",
        )
    heads = [m for m in members if ranks[m] == 0]
    if len(heads) > 1:
        _fail(
            "cell %s has two heads: hosts %s all have node_rank 0; exactly one host is the head (rank 0), the "
            "others take ranks 1 to %d" % (cell, ", ".join(heads), len(members) - 1),
            cell=cell,
            option="node_rank",
        )
    by_rank = {}
    for m in members:
        by_rank.setdefault(ranks[m], []).append(m)
    for rank, names in sorted(by_rank.items()):
        if len(names) > 1:
            _fail(
                "cell %s: hosts %s share node_rank %d; each host needs its own rank, 0 to %d"
                % (cell, ", ".join(names), rank, len(members) - 1),
                cell=cell,
                option="node_rank",
            )
    expected = list(range(len(members)))
    if sorted(by_rank) != expected:
        missing = [r for r in expected if r not in by_rank]
        _fail(
            "cell %s: ranks %s found, rank %s missing; the %d hosts of a cell take ranks 0 to %d: %s"
            % (
                cell,
                ", ".join(str(r) for r in sorted(by_rank)),
                ", ".join(str(r) for r in missing),
                len(members),
                len(members) - 1,
                ", ".join("%s=%d" % (m, ranks[m]) for m in members),
            ),
            cell=cell,
            option="node_rank",
        )
    return sorted(members, key=lambda m: ranks[m])


def _check_cell_hosts(cell, ranked, hosts):
    if len(ranked) == 1:
        _fail(
            "cell %s has one host (%s): a cell of one is just a host: remove serve_cell (cell) from it, and it "
            "runs its own replicas" % (cell, ranked[0]),
            cell=cell,
            host=ranked[0],
            option="cell",
        )
    for key, what in (
        ("product", "GPU model"),
        ("driver_version", "driver"),
        ("count", "GPU count"),
        ("memory_mib", "GPU memory"),
    ):
        found = {}
        for m in ranked:
            found.setdefault(str(hosts[m]["gpus"].get(key)), []).append(m)
        if len(found) > 1:
            _fail(
                "cell %s mixes %ss: %s; the ranks of one engine shard the model evenly and run the same kernels, "
                "so every host of a cell needs the same GPU model, count, memory and driver: put hosts that "
                "differ in separate cells (or none)"
                % (cell, what, "; ".join("%s on %s" % (v, ", ".join(ms)) for v, ms in sorted(found.items()))),
                cell=cell,
                option="cell",
            )
    seen = {}
    for m in ranked:
        address = hosts[m]["address"]
        if address in seen:
            _fail(
                "cell %s: hosts %s and %s have the same address %s; every rank must be reachable at its own "
                "address (set address / ansible_host per host)" % (cell, seen[address], m, address),
                cell=cell,
                option="address",
            )
        seen[address] = m
    for m in ranked:
        if hosts[m]["replicas_per_host"] not in ("auto", 1):
            _fail(
                "replicas_per_host %s on host %s, which is in cell %s: a cell host runs one rank over all its GPUs; "
                "remove replicas_per_host (or 1), or take the host out of the cell"
                % (hosts[m]["replicas_per_host"], m, cell),
                host=m,
                cell=cell,
                option="replicas_per_host",
            )


def _plan_cell(cell, ranked, hosts, reasons):
    _check_cell_hosts(cell, ranked, hosts)
    head = ranked[0]
    total = sum(hosts[m]["gpus"]["count"] for m in ranked)
    dist_port = hosts[head]["dist_port"]
    plans = {}
    offline = ""
    for _pass in range(2):
        for rank, m in enumerate(ranked):
            multinode = {
                "nnodes": len(ranked),
                "node_rank": rank,
                "head_address": hosts[head]["address"],
                "gpus": total,
                "fabric_interface": hosts[m]["fabric_interface"],
            }
            plans[m] = _plan(
                m,
                cell,
                gpus=hosts[m]["gpus"],
                multinode=multinode,
                dist_port=dist_port,
                hub_offline=offline,
                **hosts[m]["choices"],
            )
        if offline:
            break
        # Every rank's build must be local for the cell to run offline: decided once, over the whole cell.
        offline, offline_line = hub_offline(plans, hosts, cell)
        if not offline:
            break
    for key in _CELL_SAME:
        values = {}
        for m in ranked:
            values.setdefault(str(plans[m][key]), []).append(m)
        if len(values) > 1:
            _fail(
                "cell %s: its hosts plan different %s (%s); the ranks run one engine together, so set the same "
                "choices (group_vars of the cell) on every host"
                % (cell, key, "; ".join("%s on %s" % (v, ", ".join(ms)) for v, ms in sorted(values.items()))),
                cell=cell,
                option=key,
            )
    engine = plans[head]["engine"]
    data = ENGINES[engine]
    base = dist_port if dist_port is not None else data["dist_port"]
    info = {
        "hosts": list(ranked),
        "head": head,
        "head_address": hosts[head]["address"],
        "dist_port": base,
        "gpus": total,
        "engine": engine,
        "tensor_parallel_size": plans[head]["tensor_parallel_size"],
    }
    if data["multinode"]["tensor_parallel"] == "host":
        info["data_parallel_size"] = total // plans[head]["tensor_parallel_size"]
    instances = {}
    for rank, m in enumerate(ranked):
        role = "head" if rank == 0 else "worker"
        instances[m] = _instance(plans[m], 0, "all", role, cell, rank == 0)
    reasons.append(
        "cell %s: %s over %d hosts (%s), %d x %s; head %s at %s:%d%s."
        % (
            cell,
            data["label"],
            len(ranked),
            ", ".join("%s rank %d" % (m, r) for r, m in enumerate(ranked)),
            total,
            hosts[head]["gpus"].get("product"),
            head,
            hosts[head]["address"],
            base,
            (
                ", data parallel %d x tensor parallel %d with expert parallel"
                % (info["data_parallel_size"], info["tensor_parallel_size"])
            )
            if "data_parallel_size" in info
            else (", tensor parallel %d" % info["tensor_parallel_size"]),
        )
    )
    if offline_line:
        reasons.append(offline_line)
    return info, instances


def _claims(instance, hosts_entry):
    """(port, what) pairs an instance listens on at its host."""
    data = ENGINES[instance["engine"]]
    claims = []
    listens = instance["role"] != "worker" or data["multinode"]["worker_listens"]
    if listens:
        claims.append((instance["port"], "HTTP port"))
    base = hosts_entry["dist_port"] if hosts_entry["dist_port"] is not None else data["dist_port"]
    if instance["role"] == "head":
        claims.extend(
            (base + k, "distributed port (dist_port %d + %d)" % (base, k)) for k in range(data["dist_port_span"])
        )
    elif instance["role"] == "standalone" and instance["gpu_ids"] != "all" and data["replica_args"]:
        claims.append(
            (base + instance["index"], "distributed port (dist_port %d + index %d)" % (base, instance["index"]))
        )
    return claims


def _check_ports(name, instances, entry):
    owner = {}
    for instance in instances:
        for port, what in _claims(instance, entry):
            if port in owner and owner[port] != (instance["name"], what):
                other, other_what = owner[port]
                _fail(
                    "host %s: port %d is claimed twice: %s of %s and %s of %s; replica ports are port + index and "
                    "distributed ports dist_port + index, so the ranges must not overlap: move port or dist_port "
                    "so that port..port+%d and the distributed ports are apart"
                    % (name, port, other_what, other, what, instance["name"], len(instances) - 1),
                    host=name,
                    option="port",
                )
            if port > 65535:
                _fail(
                    "host %s: %s %d of %s is above 65535; use a lower port or dist_port"
                    % (name, what, port, instance["name"]),
                    host=name,
                    option="port",
                )
            owner[port] = (instance["name"], what)


def _summary(name, entry, instances, used, idle):
    gpus = entry["gpus"]
    parts = []
    for i in instances:
        label = ENGINES[i["engine"]]["label"]
        where = "GPUs all" if i["gpu_ids"] == "all" else "GPUs %s" % gpu_ranges(i["gpu_ids"])
        if i["role"] == "standalone":
            parts.append("%s %s TP %d %s :%d" % (i["name"], label, i["tensor_parallel_size"], where, i["port"]))
        else:
            parts.append(
                "%s %s of cell %s (%s TP %d) :%d"
                % (i["name"], i["role"], i["cell"], label, i["tensor_parallel_size"], i["port"])
            )
    return "%s: %d x %s, %d used, %d idle%s; %s" % (
        name,
        len(_device_ids(gpus)),
        gpus.get("product"),
        len(used),
        len(idle),
        (" (GPUs %s)" % gpu_ranges(idle)) if idle else "",
        "; ".join(parts),
    )


def plan_fleet(hosts, order=None):
    """Return the ``fleet`` dict (docs/architecture.md) for ``hosts`` (inventory_hostname -> entry) or raise
    PlanError naming the host or cell, what was found and what would work."""
    if not isinstance(hosts, dict) or not hosts:
        _fail(
            "hosts must be a mapping of inventory host name to {gpus, address, choices, ...} with at least one "
            "host, found %s" % show(hosts),
            option="hosts",
        )
    checked = {name: _check_host(name, entry) for name, entry in hosts.items()}
    names = _order(checked, order)
    reasons = []
    out_hosts, endpoints, cells = {}, [], {}
    cell_members = {}
    for name in names:
        if checked[name]["cell"] is not None:
            cell_members.setdefault(checked[name]["cell"], []).append(name)
    planned = {}
    for cell in sorted(cell_members):
        ranked = _rank_order(cell, cell_members[cell], checked)
        info, instances = _plan_cell(cell, ranked, checked, reasons)
        cells[cell] = info
        for m, instance in instances.items():
            ids = _device_ids(checked[m]["gpus"])
            planned[m] = ([instance], ids, [])
    for name in names:
        if name not in planned:
            planned[name] = _plan_standalone(name, checked[name], reasons)
    for name in names:
        instances, used, idle = planned[name]
        _check_ports(name, instances, checked[name])
        entry = checked[name]
        out_hosts[name] = {
            "summary": _summary(name, entry, instances, used, idle),
            "gpus_total": len(_device_ids(entry["gpus"])),
            "gpus_used": len(used),
            "gpus_idle": idle,
            "instances": instances,
        }
        for i in instances:
            if i["serves_http"]:
                endpoints.append(
                    {
                        "host": name,
                        "address": entry["address"],
                        "port": i["port"],
                        "instance": i["name"],
                        "engine": i["engine"],
                        "served_model_name": i["served_model_name"],
                        "health_path": i["readiness"]["health_path"],
                        "models_path": i["readiness"]["models_path"],
                    }
                )
    total = sum(h["gpus_total"] for h in out_hosts.values())
    serving = sum(h["gpus_used"] for h in out_hosts.values())
    reasons.append(
        "fleet: %d hosts, %d GPUs, %d serving, %d endpoints (%d cells)."
        % (len(out_hosts), total, serving, len(endpoints), len(cells))
    )
    return {"hosts": out_hosts, "endpoints": endpoints, "cells": cells, "reasons": reasons}
