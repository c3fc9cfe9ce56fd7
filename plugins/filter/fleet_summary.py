# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet_instance_rows and fleet_totals filters: site.yml's summary, one row per instance and a last line.

Each input item is one host as the play knows it:
  {host, gpus (llmfleet_gpus), instances (its plans: the fleet plan's instances, or [llmfleet_plan]),
   verify (llmfleet_verify_endpoints, or [llmfleet_verify]), auth (api_key_required, or None),
   gpus_total / gpus_used (from the fleet plan, when there is one)}
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import gpu_ranges

# The documentation lives in fleet_instance_rows.yml and fleet_totals.yml beside this file.


def _host_items(hosts):
    if not isinstance(hosts, list) or not all(isinstance(h, dict) and "host" in h for h in hosts):
        raise AnsibleFilterError("fleet summary: expected a list of {host, gpus, instances, verify, auth} dicts")
    return hosts


def _gpu_count(gpus):
    return int((gpus or {}).get("count") or 0)


def _uses(instance, gpus):
    ids = instance.get("gpu_ids")
    if ids in (None, "all"):
        return "all %d" % _gpu_count(gpus) if _gpu_count(gpus) else "all"
    return "%s (%d)" % (gpu_ranges(ids), len(ids))


def fleet_instance_rows(hosts):
    """One row per instance: host, GPUs, used GPUs, role, engine, image, weights, TP, port, endpoint, auth, verify."""
    rows = []
    for h in _host_items(hosts):
        gpus = h.get("gpus") or {}
        verified = {v.get("container"): v for v in h.get("verify") or [] if isinstance(v, dict)}
        first = (h.get("verify") or [None])[0]
        auth = h.get("auth")
        for n, i in enumerate(h.get("instances") or []):
            name = (i.get("container") or {}).get("name")
            role = i.get("role") or "standalone"
            cell = i.get("cell")
            v = verified.get(name) or (first if n == 0 and first and not first.get("container") else None)
            if role == "worker":
                endpoint, result = "-", "joins head"
            else:
                endpoint = v.get("openai_base_url") if v else "-"
                result = v.get("result") if v else "not run"
            rows.append(
                {
                    "host": h["host"],
                    "gpus": "%s x %s (%s)"
                    % (gpus.get("count", "?"), gpus.get("product", "?"), gpus.get("architecture", "?")),
                    "uses": _uses(i, gpus),
                    "instance": name or "-",
                    "role": role + (" %s" % cell if cell else ""),
                    "engine": i.get("engine"),
                    "image": i.get("image"),
                    "weights": i.get("model_id"),
                    "tp": i.get("tensor_parallel_size"),
                    "endpoint": endpoint,
                    "auth": "-" if auth is None else ("key" if auth else "open"),
                    "verify": result,
                }
            )
    return rows


def fleet_totals(hosts):
    """'Fleet: N hosts, G GPUs, S serving (I idle), R replicas (A standalone, C cells), E endpoints verified V'."""
    items = _host_items(hosts)
    total = serving = 0
    standalone, cells, endpoints, passed = 0, set(), 0, 0
    for h in items:
        gpus = h.get("gpus") or {}
        instances = h.get("instances") or []
        total += int(h.get("gpus_total") if h.get("gpus_total") is not None else _gpu_count(gpus))
        if h.get("gpus_used") is not None:
            serving += int(h["gpus_used"])
        else:
            for i in instances:
                ids = i.get("gpu_ids")
                serving += _gpu_count(gpus) if ids in (None, "all") else len(ids)
        for i in instances:
            role = i.get("role") or "standalone"
            if role == "standalone":
                standalone += 1
            elif i.get("cell") is not None:
                cells.add(i["cell"])
            if role != "worker":
                endpoints += 1
        passed += sum(1 for v in h.get("verify") or [] if isinstance(v, dict) and v.get("passed"))
    return (
        "Fleet: %d hosts, %d GPUs, %d serving, %d idle; %d replicas (%d standalone, %d multi-node cells); "
        "%d endpoints, %d verified"
        % (
            len(items),
            total,
            serving,
            total - serving,
            standalone + len(cells),
            standalone,
            len(cells),
            endpoints,
            passed,
        )
    )


class FilterModule:
    def filters(self):
        return {"fleet_instance_rows": fleet_instance_rows, "fleet_totals": fleet_totals}
