# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a host already what the serve role would make it? (llmfleet.serving.serve_state)

A run that changes nothing must stay cheap on hundreds of hosts (issue 12): instead of the serve role's ~40
tasks per host (each a round trip), one module call reads everything the role would compare, and the host is
skipped only when every piece matches. Anything that differs or cannot be read (a stopped container, a unit
removed or edited by hand, a unit systemd has not reloaded, a secret file changed or gone, a fact file that
differs, a server that does not answer its health check) makes the host "not in sync" and the full role runs,
which repairs it. The decisions are pure functions here, unit-tested; the module only gathers.
"""

from __future__ import annotations

import hashlib


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def parse_systemctl_show(text):
    """``systemctl show -p Id,... A B`` prints one block of KEY=VALUE lines per unit, blocks separated by a
    blank line: {Id: {key: value}}."""
    units = {}
    block = {}
    for line in (text or "").splitlines() + [""]:
        if not line.strip():
            if block.get("Id"):
                units[block["Id"]] = block
            block = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            block[key.strip()] = value.strip()
    return units


def parse_inspect(text):
    """Lines ``/NAME RUNNING LABEL`` (our --format) from docker/podman inspect: {name: {running, restart_key}}.
    A container that does not exist prints nothing here (an error on stderr)."""
    out = {}
    for line in (text or "").splitlines():
        parts = line.strip().split(None, 2)
        if len(parts) < 2:
            continue
        name = parts[0].lstrip("/")
        out[name] = {"running": parts[1] == "true", "restart_key": parts[2].strip() if len(parts) > 2 else ""}
    return out


def file_problem(what, expected_sha256, actual, mode=None, uid=None):
    """One file against what the role writes. ``actual``: None when absent, else {sha256, mode, uid, regular}.
    ``expected_sha256`` None: the role removes the file. Returns a problem string or None."""
    if expected_sha256 is None:
        return None if actual is None else "%s exists but the role removes it" % what
    if actual is None:
        return "%s is missing" % what
    if not actual.get("regular", True):
        return "%s is not a regular file" % what
    if actual.get("sha256") != expected_sha256:
        return "%s differs from what the role writes" % what
    if mode is not None and actual.get("mode") != mode:
        return "%s has mode %s, the role writes %s" % (what, oct(actual.get("mode") or 0), oct(mode))
    if uid is not None and actual.get("uid") != uid:
        return "%s is owned by uid %s, the role writes root's" % (what, actual.get("uid"))
    return None


def instance_problems(inst, runtime, units, containers, files, health, secrets_key=None):
    """What differs between one planned instance and the host. ``inst``: the module's instances entry;
    ``units``: parse_systemctl_show; ``containers``: parse_inspect; ``files``: path -> actual (see file_problem);
    ``health``: url -> None (answered 200) or the error text; ``secrets_key``: restart_key() of the secret files
    as they are on the host (None: not checked)."""
    problems = []
    name = inst["container"]
    unit = inst["unit"]
    p = file_problem("unit file %s" % inst["unit_path"], inst["unit_sha256"], files.get(inst["unit_path"]))
    if p:
        problems.append(p)
    state = units.get(unit) or {}
    if state.get("ActiveState") != "active":
        problems.append("unit %s is %s, not active" % (unit, state.get("ActiveState") or "unknown to systemd"))
    if state.get("NeedDaemonReload") == "yes":
        problems.append("unit %s changed on disk since systemd loaded it" % unit)
    # Quadlet services are generated (enabled by their [Install] section); the role enables docker units.
    if runtime == "docker" and state.get("UnitFileState") not in ("enabled", "enabled-runtime"):
        problems.append("unit %s is %s, not enabled" % (unit, state.get("UnitFileState") or "unknown"))
    container = containers.get(name)
    if container is None:
        problems.append("container %s does not exist" % name)
    elif not container["running"]:
        problems.append("container %s is not running" % name)
    elif container["restart_key"] != inst["restart_key"]:
        problems.append("container %s runs another plan or secrets (restart key)" % name)
    if secrets_key is not None and secrets_key != inst["restart_key"]:
        problems.append("the secret files in %s differ from what the role writes" % inst.get("secret_dir"))
    for path in (inst.get("hf_token_file"), inst.get("env_file")):
        f = files.get(path) if path else None
        if f is not None and (not f.get("regular") or f.get("mode") != 0o600 or f.get("uid") != 0):
            problems.append("secret file %s is not a root-only (0600) file" % path)
    if inst.get("secret_dir"):
        d = files.get(inst["secret_dir"])
        if d is None or not d.get("directory") or d.get("mode") != 0o700 or d.get("uid") != 0:
            problems.append("secret directory %s is not a root-only (0700) directory" % inst["secret_dir"])
    url = inst.get("health_url")
    if url and not problems and health.get(url):
        problems.append("%s does not answer: %s" % (url, health[url]))
    return problems


def host_state(instances, runtime, facts, units, containers, files, health, secrets_keys=None):
    """The verdict for the host: {in_sync, problems, instances: [{container, in_sync, problems}], running}.
    ``facts``: [{path, sha256}] the fact files the role writes (the same bytes); ``secrets_keys``: container
    name -> restart_key() of its secret files on the host."""
    rows = []
    for inst in instances:
        problems = instance_problems(
            inst, runtime, units, containers, files, health, (secrets_keys or {}).get(inst["container"])
        )
        rows.append({"container": inst["container"], "in_sync": not problems, "problems": problems})
    host_problems = []
    for fact in facts:
        p = file_problem("fact file %s" % fact["path"], fact["sha256"], files.get(fact["path"]))
        if p:
            host_problems.append(p)
    problems = ["%s: %s" % (r["container"], p) for r in rows for p in r["problems"]] + host_problems
    running = {name: c["restart_key"] for name, c in containers.items() if c["running"]}
    return {"in_sync": bool(instances) and not problems, "problems": problems, "instances": rows, "running": running}
