# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A model build in the Hugging Face cache layout: the hub's file list, verification, copy from a peer.

Runs on GPU hosts (module weights_snapshot): standard library only.

The cache layout is the one huggingface_hub writes and engines read with HF_HUB_OFFLINE=1:

    <cache_dir>/hub/models--ORG--NAME/blobs/<blob>            the bytes; <blob> = the LFS sha256, or the git blob id
    <cache_dir>/hub/models--ORG--NAME/snapshots/<commit>/<path> -> ../../blobs/<blob>   (relative symlinks)
    <cache_dir>/hub/models--ORG--NAME/refs/<revision>          the commit a branch or tag name points at

Because a blob's name is its checksum, a peer can fetch exactly the blobs the manifest names from the seeder's
``blobs/`` directory and lay out the same snapshot, and a check of every blob against its name is a check
against the hub's checksums.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote

from ansible.module_utils.urls import open_url

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._host_probe import nearest_existing

USER_AGENT = "llmfleet.serving/weights"

CHUNK = 8 * 1024 * 1024
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
BLOB_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
STAMP_DIR = ".llmfleet-verified"


class WeightsError(LlmfleetError):
    """The build cannot be listed, verified or copied as asked."""


def repo_folder(cache_dir, repo_id):
    """The repository's folder in the cache (huggingface_hub's repo_folder_name for a model)."""
    if not REPO_ID_RE.match(repo_id or "") or ".." in repo_id:
        raise WeightsError(
            "repo_id %r is not a Hugging Face repository id; it must be ORG/NAME, e.g. deepseek-ai/DeepSeek-V4-Flash"
            % (repo_id,),
            option="repo_id",
        )
    return os.path.join(cache_dir, "hub", "models--" + repo_id.replace("/", "--"))


def _get_json(url, token, timeout):
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        with open_url(url, headers=headers, timeout=timeout, http_agent=USER_AGENT) as response:
            return json.loads(response.read().decode("utf-8"))
    except HTTPError as exc:
        hint = {
            401: "the hub wants a token: set weights_hf_token (a token that can read the repository)",
            403: "the token may not read this repository (gated: accept its terms on the hub with that account)",
            404: "no such repository or revision: check the model id and weights_revision",
        }.get(exc.code, "the hub answered an error; run again when it recovers")
        raise WeightsError("GET %s answered HTTP %d: %s" % (url, exc.code, hint), status=exc.code) from None
    except (URLError, OSError, ValueError) as exc:
        raise WeightsError(
            "GET %s failed: %s; check that this host reaches the hub (weights_hf_endpoint)" % (url, exc)
        ) from None


def fetch_manifest(endpoint, repo_id, revision, token=None, timeout=30.0):
    """The hub's file list of REPO at REVISION, as repo_info(files_metadata=True) reads it.

    Returns {"commit": sha, "files": [{"path", "size", "sha256" (LFS files) or None, "blob"}]}.
    """
    repo_folder("/", repo_id)  # validates the id
    url = "%s/api/models/%s/revision/%s?blobs=true" % (endpoint.rstrip("/"), repo_id, quote(revision, safe=""))
    data = _get_json(url, token, timeout)
    return manifest_from_info(data, url)


def manifest_from_info(data, where="the hub's answer"):
    commit = data.get("sha") if isinstance(data, dict) else None
    if not isinstance(commit, str) or not COMMIT_RE.match(commit):
        raise WeightsError("%s has no commit sha (key 'sha'): %r" % (where, commit))
    files = []
    for sibling in data.get("siblings") or []:
        path = sibling.get("rfilename")
        lfs = sibling.get("lfs") or None
        blob = lfs["sha256"] if lfs else sibling.get("blobId")
        size = lfs["size"] if lfs else sibling.get("size")
        if not _safe_path(path) or not isinstance(blob, str) or not BLOB_RE.match(blob) or not isinstance(size, int):
            raise WeightsError(
                "%s lists a file without a usable name, size or checksum: %r (files_metadata needs ?blobs=true)"
                % (where, sibling)
            )
        files.append({"path": path, "size": size, "sha256": lfs["sha256"] if lfs else None, "blob": blob})
    if not files:
        raise WeightsError("%s lists no files for commit %s" % (where, commit))
    return {"commit": commit, "files": sorted(files, key=lambda f: f["path"])}


def _safe_path(path):
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def file_digest(path, kind):
    """sha256 of the file (kind 'sha256'), or its git blob id (kind 'git': sha1 of 'blob SIZE\\0' + bytes)."""
    if kind == "sha256":
        h = hashlib.sha256()
    else:
        h = hashlib.sha1()  # nosec B324 - git's object id, compared with the hub's, not a security boundary
        h.update(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _blob_ok(blob_path, entry):
    try:
        if os.path.getsize(blob_path) != entry["size"]:
            return False
    except OSError:
        return False
    return file_digest(blob_path, "sha256" if entry["sha256"] else "git") == entry["blob"]


def _stat_key(path):
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _load_stamp(folder, commit):
    try:
        with open(os.path.join(folder, STAMP_DIR, commit + ".json")) as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_stamp(folder, commit, stamp):
    # A record of what was hashed (size, mtime, inode per blob), so that a re-run hashes only what changed since:
    # hashing a 284 GB build on every run would make an unchanged fleet's run take minutes per host.
    directory = os.path.join(folder, STAMP_DIR)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, commit + ".json.tmp")
    with open(tmp, "w") as handle:
        json.dump(stamp, handle, sort_keys=True)
    os.replace(tmp, os.path.join(directory, commit + ".json"))


def _link_target(path):
    # snapshots/<commit>/a/b/file -> ../../../blobs/<blob>: one '..' per directory level below the repo folder.
    return "/".join([".."] * (path.count("/") + 2) + ["blobs"])


def verify(cache_dir, repo_id, manifest, mode="changed", write_stamp=True):
    """Check every file of the manifest in the cache: the snapshot link, the blob's size and checksum.

    mode 'changed' trusts blobs whose (size, mtime, inode) match the last successful check; 'full' hashes all.
    Returns {"verified", "ok", "missing", "corrupt", "bytes_total", "bytes_missing", "snapshot_dir"}.
    """
    folder = repo_folder(cache_dir, repo_id)
    commit = manifest["commit"]
    snapshot = os.path.join(folder, "snapshots", commit)
    stamp = _load_stamp(folder, commit) if mode == "changed" else {}
    new_stamp, ok, missing, corrupt = {}, [], [], []
    bytes_missing = 0
    for entry in manifest["files"]:
        link = os.path.join(snapshot, entry["path"])
        blob_path = os.path.join(folder, "blobs", entry["blob"])
        target = os.path.realpath(link)
        if not os.path.exists(blob_path):
            missing.append(entry["path"])
            bytes_missing += entry["size"]
            continue
        key = _stat_key(blob_path)
        good = stamp.get(entry["blob"]) == key or _blob_ok(blob_path, entry)
        if not good:
            corrupt.append(entry["path"])
            bytes_missing += entry["size"]
            continue
        new_stamp[entry["blob"]] = key
        if target != os.path.realpath(blob_path):
            missing.append(entry["path"])  # the blob is good, the snapshot's link to it is not there (yet)
            continue
        ok.append(entry["path"])
    verified = not missing and not corrupt
    if verified and write_stamp and new_stamp != stamp:
        _save_stamp(folder, commit, new_stamp)
    return {
        "verified": verified,
        "ok": ok,
        "missing": missing,
        "corrupt": corrupt,
        "bytes_total": sum(e["size"] for e in manifest["files"]),
        "bytes_missing": bytes_missing,
        "snapshot_dir": snapshot,
    }


def remove_blobs(cache_dir, repo_id, manifest, paths):
    """Delete the blobs behind PATHS (corrupt ones), so that the next download fetches them again."""
    folder = repo_folder(cache_dir, repo_id)
    by_path = {e["path"]: e for e in manifest["files"]}
    removed = []
    for path in paths:
        blob_path = os.path.join(folder, "blobs", by_path[path]["blob"])
        if os.path.lexists(blob_path):
            os.remove(blob_path)
            removed.append(path)
    return removed


def link_snapshot(cache_dir, repo_id, manifest, revision):
    """Make the snapshot's links and the ref for REVISION; returns True when something was written."""
    folder = repo_folder(cache_dir, repo_id)
    commit = manifest["commit"]
    changed = False
    for entry in manifest["files"]:
        link = os.path.join(folder, "snapshots", commit, entry["path"])
        target = _link_target(entry["path"]) + "/" + entry["blob"]
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)
        changed = True
    if revision != commit:
        ref = os.path.join(folder, "refs", revision)
        current = None
        try:
            with open(ref) as handle:
                current = handle.read()
        except OSError:
            pass
        if current != commit:
            os.makedirs(os.path.dirname(ref), exist_ok=True)
            with open(ref, "w") as handle:
                handle.write(commit)
            changed = True
    return changed


def _open(url, headers, timeout):
    return open_url(url, headers=headers, timeout=timeout, http_agent=USER_AGENT)


def fetch_blob(url, dest, entry, timeout=60.0, retries=3, opener=_open):
    """Fetch one blob from a peer into DEST, resuming DEST.incomplete with a Range request; verify, then rename.

    Returns the bytes received over the network.
    """
    partial = dest + ".incomplete"
    received = 0
    last_error = None
    for _attempt in range(retries + 1):
        have = os.path.getsize(partial) if os.path.exists(partial) else 0
        if have > entry["size"]:
            os.remove(partial)
            have = 0
        headers = {}
        if have:
            headers["Range"] = "bytes=%d-" % have
        try:
            with opener(url, headers=headers, timeout=timeout) as response:
                status = getattr(response, "status", 200)
                mode = "ab" if (have and status == 206) else "wb"  # 200: the server sent it all again
                with open(partial, mode) as handle:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        handle.write(chunk)
                        received += len(chunk)
        except HTTPError as exc:
            if exc.code == 416 and have == entry["size"]:
                pass  # complete already: verified below
            else:
                last_error = "HTTP %d" % exc.code
                continue
        except (URLError, OSError) as exc:
            last_error = str(exc)
            time.sleep(1)
            continue
        if os.path.getsize(partial) < entry["size"]:
            last_error = "the connection ended after %d of %d bytes" % (os.path.getsize(partial), entry["size"])
            continue
        if _blob_ok(partial, entry):
            os.replace(partial, dest)
            return received
        os.remove(partial)  # wrong bytes: start over
        last_error = "the copy's checksum differs from the hub's %s" % entry["blob"]
    raise WeightsError(
        "copying %s (%d bytes) from %s failed after %d tries: %s; check that this host reaches its source (the "
        "seeder, or a peer of an earlier wave: weights_serve_port open between the hosts, weights_serve_address) "
        "and run again (the copy resumes)" % (entry["path"], entry["size"], url, retries + 1, last_error)
    )


def fetch_from_peer(cache_dir, repo_id, manifest, source_url, paths, timeout=60.0, retries=3):
    """Fetch the blobs behind PATHS from SOURCE_URL (a holder's blobs/ directory). Returns bytes received."""
    folder = repo_folder(cache_dir, repo_id)
    blobs = os.path.join(folder, "blobs")
    os.makedirs(blobs, exist_ok=True)
    by_path = {e["path"]: e for e in manifest["files"]}
    received = 0
    done = set()
    for path in paths:
        entry = by_path[path]
        dest = os.path.join(blobs, entry["blob"])
        if entry["blob"] in done or (os.path.exists(dest) and _blob_ok(dest, entry)):
            continue  # the same blob under two names, or only the link was missing
        if os.path.lexists(dest):
            os.remove(dest)
        received += fetch_blob(source_url.rstrip("/") + "/" + entry["blob"], dest, entry, timeout, retries)
        done.add(entry["blob"])
    return received


def free_bytes(path):
    """Free bytes (for an unprivileged writer too) on the filesystem of PATH or its nearest existing parent."""
    probe = nearest_existing(path)
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize, probe
