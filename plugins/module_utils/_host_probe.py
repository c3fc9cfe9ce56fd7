# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What host_preflight reads on a GPU host, as pure parsers plus thin readers.

Standard library only: this runs on the GPU hosts. The parsers take text (the content of /proc/net/tcp, a CDI
spec, ``docker ps`` output) so the unit tests feed them recorded content; the readers only open files, stat and
call sockets. Nothing here changes the host: the one thing that touches the network, :func:`listen`, binds a
port for a bounded time and only accepts and closes connections (a read-only probe).
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import time

LISTEN_STATE = "0A"  # TCP_LISTEN in include/net/tcp_states.h, as /proc/net/tcp prints it
NVIDIA_CDI_KIND = "nvidia.com/gpu"
DEFAULT_CDI_DIRS = ("/etc/cdi", "/var/run/cdi")
# docker run --gpus is served by the NVIDIA container toolkit's prestart hook, which dockerd looks up on its PATH
# (nvidia-container-toolkit); nvidia-container-runtime is the toolkit's OCI runtime (docker info Runtimes: nvidia).
DOCKER_TOOLKIT_BINARIES = ("nvidia-container-runtime-hook", "nvidia-container-runtime")
_DOCKER_PORT_RE = re.compile(r":(\d+)(?:-(\d+))?->\d+(?:-\d+)?/tcp")


# ------------------------------------------------------------------ /proc/net/tcp{,6}


def _hex_address(text):
    """'0100007F' -> '127.0.0.1'; a 32-digit IPv6 word list -> its compressed text form.

    The kernel prints each 32-bit word of the address in host byte order (little endian on every platform we
    serve on), so each word's bytes are reversed."""
    raw = bytes.fromhex(text)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 4:
        return socket.inet_ntop(socket.AF_INET, words)
    address = socket.inet_ntop(socket.AF_INET6, words)
    return address


def parse_proc_net_tcp(text, family="ipv4"):
    """The listening sockets of a /proc/net/tcp or /proc/net/tcp6 text: [{address, port, inode, family}]."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN_STATE:
            continue
        address, port = fields[1].rsplit(":", 1)
        try:
            out.append(
                {"address": _hex_address(address), "port": int(port, 16), "inode": int(fields[9]), "family": family}
            )
        except ValueError:
            continue
    return out


def read_listeners(proc="/proc"):
    """Every listening TCP socket of the host (IPv4 and IPv6)."""
    out = []
    for name, family in (("tcp", "ipv4"), ("tcp6", "ipv6")):
        try:
            with open(os.path.join(proc, "net", name)) as f:
                out.extend(parse_proc_net_tcp(f.read(), family))
        except OSError:
            continue  # no IPv6 on this kernel
    return out


def container_id_from_cgroup(text):
    """The 64-hex container id in a /proc/PID/cgroup text (docker, podman/libpod, containerd), or None."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        for part in path.split("/"):
            match = re.search(r"([0-9a-f]{64})", part)
            if match:
                return match.group(1)
    return None


def socket_owners(inodes, proc="/proc"):
    """{inode: {pid, process, container_id}} for the socket inodes, read from /proc/*/fd.

    Only the process name (comm) is kept, never its command line: an engine's command line can hold an API key
    (SGLang takes --api-key as an argument). Processes this user may not read (no become) are left out."""
    wanted = {"socket:[%d]" % i: i for i in inodes}
    found = {}
    if not wanted:
        return found
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            inode = wanted.get(target)
            if inode is None or inode in found:
                continue
            found[inode] = {
                "pid": int(pid),
                "process": _read(os.path.join(proc, pid, "comm")).strip() or None,
                "container_id": container_id_from_cgroup(_read(os.path.join(proc, pid, "cgroup"))),
            }
        if len(found) == len(wanted):
            break
    return found


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


# ------------------------------------------------------------------ containers


def parse_docker_ps(text):
    """``docker ps --no-trunc --format '{{json .}}'`` (one JSON object a line) or ``podman ps --format json``
    (one JSON array) -> [{id, name, host_ports, labels}]."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        items = json.loads(text)
    else:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    out = []
    for item in items:
        names = item.get("Names")
        name = (names[0] if names else None) if isinstance(names, list) else (names or "").split(",")[0] or None
        ports = item.get("Ports")
        host_ports = set()
        if isinstance(ports, list):  # podman: [{host_ip, container_port, host_port, range, protocol}]
            for p in ports:
                if isinstance(p, dict) and p.get("protocol", "tcp") == "tcp" and p.get("host_port"):
                    span = int(p.get("range") or 1)
                    host_ports.update(range(int(p["host_port"]), int(p["host_port"]) + span))
        elif isinstance(ports, str):  # docker: "0.0.0.0:8000->8000/tcp, :::8000->8000/tcp"
            for first, last in _DOCKER_PORT_RE.findall(ports):
                host_ports.update(range(int(first), int(last or first) + 1))
        labels = item.get("Labels")
        if isinstance(labels, str):  # docker: "a=b,c=d"
            labels = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in labels.split(",") if kv)
        out.append(
            {
                "id": item.get("ID") or item.get("Id"),
                "name": name,
                "host_ports": sorted(host_ports),
                "labels": labels if isinstance(labels, dict) else {},
            }
        )
    return out


# ------------------------------------------------------------------ CDI specs


def _scalar(text):
    text = text.split(" #", 1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_cdi_spec(text):
    """(kind, [device names]) of a CDI spec in JSON or in the block YAML ``nvidia-ctk cdi generate`` writes.

    Standard library only, so YAML is read line by line: the top-level ``kind:`` and, in the top-level
    ``devices:`` list, each entry's own ``name:`` (keys nested deeper, e.g. under containerEdits, are not names).
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        return data.get("kind"), [str(d.get("name")) for d in data.get("devices") or [] if isinstance(d, dict)]
    kind, names = None, []
    in_devices, item_indent = False, None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#") or raw.strip() in ("---", "..."):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0 and not line.startswith("- "):
            in_devices = line.startswith("devices:")
            item_indent = None
            if line.startswith("kind:"):
                kind = _scalar(line[len("kind:") :])
            continue
        if not in_devices:
            continue
        if line.startswith("- ") and (item_indent is None or indent == item_indent):
            item_indent = indent
            line, indent = line[2:].lstrip(), indent + 2
        if item_indent is not None and indent == item_indent + 2 and line.startswith("name:"):
            names.append(_scalar(line[len("name:") :]))
    return kind, names


def read_cdi(dirs):
    """The NVIDIA GPU devices CDI specs in ``dirs`` define: {specs: [paths], devices: ['nvidia.com/gpu=0', ...],
    errors: [...]} (what podman's --device nvidia.com/gpu=N resolves against)."""
    specs, devices, errors = [], [], []
    for d in dirs:
        try:
            entries = sorted(os.listdir(d))
        except OSError:
            continue
        for entry in entries:
            if not entry.endswith((".yaml", ".yml", ".json")):
                continue
            path = os.path.join(d, entry)
            try:
                kind, names = parse_cdi_spec(_read_strict(path))
            except (OSError, ValueError) as exc:
                errors.append("%s: %s" % (path, exc))
                continue
            if kind == NVIDIA_CDI_KIND:
                specs.append(path)
                devices.extend("%s=%s" % (kind, n) for n in names if "%s=%s" % (kind, n) not in devices)
    return {"dirs": list(dirs), "specs": specs, "devices": devices, "errors": errors}


def _read_strict(path):
    with open(path) as f:
        return f.read()


# ------------------------------------------------------------------ disk and weights


def nearest_existing(path):
    """``path`` or its nearest existing parent directory (what a download would be written onto)."""
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def hf_repo_dir(cache_dir, model_id):
    """Where huggingface_hub keeps a model under a cache dir (HF_HOME): hub/models--org--name."""
    return os.path.join(cache_dir, "hub", "models--" + model_id.replace("/", "--"))


def weights_status(cache_dir, model_id):
    """{model_id, path, present, snapshots, bytes, incomplete}: is the build in the cache already.

    present = a snapshot with at least one file and no download left half done (huggingface_hub names a blob
    being written ``*.incomplete``); ``bytes`` is what the blobs hold so far, so a partial download needs only
    the rest."""
    repo = hf_repo_dir(cache_dir, model_id)
    snapshots, total, incomplete = [], 0, 0
    try:
        for snap in sorted(os.listdir(os.path.join(repo, "snapshots"))):
            snap_dir = os.path.join(repo, "snapshots", snap)
            if os.path.isdir(snap_dir) and os.listdir(snap_dir):
                snapshots.append(snap)
    except OSError:
        pass
    try:
        with os.scandir(os.path.join(repo, "blobs")) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
                    incomplete += entry.name.endswith(".incomplete")
    except OSError:
        pass
    return {
        "model_id": model_id,
        "path": repo,
        "present": bool(snapshots) and not incomplete,
        "snapshots": snapshots,
        "bytes": total,
        "incomplete": incomplete,
    }


def cached_models(cache_dir):
    """The model ids that have a repository directory (hub/models--ORG--NAME) under a cache dir, sorted."""
    try:
        names = os.listdir(os.path.join(cache_dir, "hub"))
    except OSError:
        return []
    return sorted(
        n[len("models--") :].replace("--", "/", 1) for n in names if n.startswith("models--") and "--" in n[8:]
    )


def disk_status(cache_dir, model_ids):
    checked = nearest_existing(cache_dir)
    out = {
        "dir": cache_dir,
        "exists": os.path.isdir(cache_dir),
        "checked_path": checked,
        "free_bytes": None,
        "total_bytes": None,
        "models": [weights_status(cache_dir, m) for m in model_ids],
    }
    try:
        st = os.statvfs(checked)
        # f_bavail: the blocks an unprivileged writer may use; the engine's download runs as the container's root
        # but the reserved blocks are a safety margin for the host, not room for weights.
        out["free_bytes"] = st.f_bavail * st.f_frsize
        out["total_bytes"] = st.f_blocks * st.f_frsize
    except OSError as exc:
        out["error"] = str(exc)
    return out


# ------------------------------------------------------------------ reachability


def connect(host, port, timeout, interval=0.25):
    """Try a TCP connection to host:port until one opens or ``timeout`` seconds pass; nothing is sent.

    Refused connections are retried: the head's probe listener may start a moment after the worker's first try.
    """
    start = time.monotonic()
    deadline = start + timeout
    attempts, last = 0, None
    while True:
        attempts += 1
        remaining = deadline - time.monotonic()
        try:
            sock = socket.create_connection((host, port), timeout=max(0.1, min(remaining, 5.0)))
        except OSError as exc:
            last = exc
        else:
            peer = sock.getsockname()[0]
            sock.close()
            return {
                "host": host,
                "port": port,
                "connected": True,
                "error": None,
                "attempts": attempts,
                "source_address": peer,
                "seconds": round(time.monotonic() - start, 3),
            }
        if time.monotonic() + interval >= deadline:
            break
        time.sleep(interval)
    return {
        "host": host,
        "port": port,
        "connected": False,
        "error": _describe_error(last),
        "attempts": attempts,
        "source_address": None,
        "seconds": round(time.monotonic() - start, 3),
    }


def _describe_error(exc):
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "name not resolved (%s)" % exc.strerror
    if isinstance(exc, OSError) and exc.errno:
        return "%s (%s)" % (os.strerror(exc.errno).lower(), errno.errorcode.get(exc.errno, exc.errno))
    return str(exc)


def _bind(address, port):
    if address:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        return sock
    try:
        # Every address, IPv4 and IPv6 (what the engines' rendezvous listeners do).
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    except OSError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::" if sock.family == socket.AF_INET6 else "0.0.0.0", port))
    return sock


def listen(port, timeout, address="", expect=0):
    """Listen on port for at most ``timeout`` seconds (less once ``expect`` distinct peers connected); accept and
    close each connection. {port, address, bound, error, peers, connections, seconds}.

    A port something else already listens on is not taken over (no SO_REUSEPORT): ``bound`` is false and the
    workers' connects then reach whatever holds it - on a re-run, the running engine, which proves the path too.
    """
    start = time.monotonic()
    out = {
        "port": port,
        "address": address,
        "bound": False,
        "error": None,
        "peers": [],
        "connections": 0,
        "seconds": 0.0,
    }
    try:
        sock = _bind(address, port)
        sock.listen(16)
    except OSError as exc:
        out["error"] = _describe_error(exc)
        return out
    out["bound"] = True
    sock.settimeout(0.2)
    deadline = start + timeout
    try:
        while time.monotonic() < deadline and not (expect and out["connections"] >= expect):
            try:
                conn, peer = sock.accept()
            except socket.timeout:
                continue
            conn.close()
            out["connections"] += 1
            ip = peer[0]
            if ip.startswith("::ffff:"):
                ip = ip[len("::ffff:") :]
            if ip not in out["peers"]:
                out["peers"].append(ip)
    finally:
        sock.close()
    out["seconds"] = round(time.monotonic() - start, 3)
    return out
