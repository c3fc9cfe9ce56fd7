#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: weights_snapshot
short_description: List, verify and copy a model build in a host's Hugging Face cache
version_added: "0.3.0"
description:
  - Reads the hub's file list of a model repository at a revision (O(hub_endpoint); sizes and sha256 as
    C(repo_info(files_metadata=True)) reads them) or takes one given (O(manifest)), and checks every file of it
    in the host's cache - C(<cache_dir>/hub/models--ORG--NAME) - the snapshot's link, the blob's size and its
    checksum (the LFS sha256, or the git blob id for small files).
  - With O(source_url), fetches the missing or corrupt blobs from a peer that has the build (the
    C(llmfleet.serving.weights) role's seeder, or a peer that copied in an earlier wave, serves its C(blobs/)
    directory for the duration of the copy),
    resuming partial files with HTTP range requests, checks each, and lays out the snapshot and the ref.
  - Used by the C(llmfleet.serving.weights) role; the download from the hub itself is C(hf download) in the
    engine's image, not this module.
author:
  - llmfleet founding engineers (@llmfleet)
attributes:
  check_mode:
    support: full
    description: Lists and verifies (reads only); reports what it would fetch or remove, and changes nothing.
  diff_mode:
    support: none
    description: The module reports what it fetched and verified, not a file diff.
options:
  repo_id:
    description: The model repository, C(ORG/NAME).
    type: str
    required: true
  revision:
    description: The branch, tag or commit asked for. A branch or tag is written to C(refs/) with its commit.
    type: str
    default: main
  cache_dir:
    description: The host's Hugging Face cache directory (the directory mounted at C(/root/.cache/huggingface)).
    type: path
    required: true
  hub_endpoint:
    description: The hub to read the file list from (C(HF_ENDPOINT)). One of O(hub_endpoint) and O(manifest).
    type: str
  hub_token:
    description: A token for gated or private repositories. Sent only in the C(Authorization) header.
    type: str
  manifest:
    description: A file list as this module returns it (C(commit), C(files)), e.g. the seeder's.
    type: dict
  source_url:
    description: URL of a peer's C(blobs/) directory; missing or corrupt blobs are fetched from it.
    type: str
  remove_corrupt:
    description: Delete blobs whose checksum is wrong, so that the next C(hf download) fetches them again.
    type: bool
    default: false
  verify:
    description:
      - V(changed) hashes only blobs whose size, mtime or inode differ from the last successful check (a re-run on
        an unchanged 284 GB build takes seconds); V(full) hashes every blob.
    type: str
    choices: [changed, full]
    default: changed
  timeout:
    description: Seconds to wait for the hub or the peer per request.
    type: float
    default: 60
"""

EXAMPLES = r"""
- name: Read the hub's file list and check the local copy
  llmfleet.serving.weights_snapshot:
    repo_id: deepseek-ai/DeepSeek-V4-Flash
    revision: main
    cache_dir: /var/lib/llmfleet/hf
    hub_endpoint: https://huggingface.co
  register: seed

- name: Copy from the seeder
  llmfleet.serving.weights_snapshot:
    repo_id: deepseek-ai/DeepSeek-V4-Flash
    cache_dir: /var/lib/llmfleet/hf
    manifest: "{{ hostvars['gpu-1'].seed.manifest }}"
    source_url: http://10.0.0.11:8765/blobs
"""

RETURN = r"""
manifest:
  description: The file list checked against (C(commit), C(files) with C(path), C(size), C(sha256), C(blob)).
  returned: always
  type: dict
commit:
  description: The commit the revision points at.
  returned: always
  type: str
verified:
  description: Every file of the manifest is in the snapshot with the hub's size and checksum.
  returned: always
  type: bool
missing:
  description: Files not (yet) in the snapshot, before any fetch.
  returned: always
  type: list
  elements: str
corrupt:
  description: Files whose bytes differ from the hub's checksum, before any fetch.
  returned: always
  type: list
  elements: str
bytes_total:
  description: The build's size.
  returned: always
  type: int
bytes_missing:
  description: Bytes of the missing and corrupt files, before any fetch.
  returned: always
  type: int
bytes_from_peer:
  description: Bytes received from O(source_url).
  returned: always
  type: int
free_bytes:
  description: Free bytes on the filesystem of O(cache_dir) (or its nearest existing parent, C(free_path)).
  returned: always
  type: int
snapshot_dir:
  description: The snapshot directory of the commit.
  returned: always
  type: str
check_mode:
  description: The call ran in check mode (so nothing was fetched or removed, and C(verified) is the state before).
  returned: always
  type: bool
seconds:
  description: Wall time of the call.
  returned: always
  type: float
started_at:
  description: When the call started, in seconds since the epoch (the peers' copy windows show a parallel fan-out).
  returned: always
  type: float
finished_at:
  description: When the call ended, in seconds since the epoch.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmfleet.serving.plugins.module_utils import _weights as w

ARGUMENT_SPEC = dict(
    repo_id=dict(type="str", required=True),
    revision=dict(type="str", default="main"),
    cache_dir=dict(type="path", required=True),
    hub_endpoint=dict(type="str"),
    hub_token=dict(type="str", no_log=True),
    manifest=dict(type="dict"),
    source_url=dict(type="str"),
    remove_corrupt=dict(type="bool", default=False),
    verify=dict(type="str", choices=["changed", "full"], default="changed"),
    timeout=dict(type="float", default=60.0),
)


def run(module):
    p = module.params
    started = time.monotonic()
    started_at = time.time()
    if p["manifest"]:
        manifest = w.manifest_from_info(
            {
                "sha": p["manifest"].get("commit"),
                "siblings": [
                    {
                        "rfilename": f.get("path"),
                        "size": f.get("size"),
                        "blobId": f.get("blob"),
                        "lfs": {"sha256": f["sha256"], "size": f.get("size")} if f.get("sha256") else None,
                    }
                    for f in p["manifest"].get("files") or []
                ],
            },
            "option manifest",
        )
    else:
        manifest = w.fetch_manifest(p["hub_endpoint"], p["repo_id"], p["revision"], p["hub_token"], p["timeout"])
    writing = not module.check_mode
    state = w.verify(p["cache_dir"], p["repo_id"], manifest, p["verify"], write_stamp=writing)
    free, free_path = w.free_bytes(p["cache_dir"])
    result = {
        "changed": False,
        "manifest": manifest,
        "commit": manifest["commit"],
        "missing": state["missing"],
        "corrupt": state["corrupt"],
        "bytes_total": state["bytes_total"],
        "bytes_missing": state["bytes_missing"],
        "bytes_from_peer": 0,
        "free_bytes": free,
        "free_path": free_path,
        "snapshot_dir": state["snapshot_dir"],
        "verified": state["verified"],
        "check_mode": module.check_mode,
    }
    if p["remove_corrupt"] and state["corrupt"]:
        result["changed"] = True
        if writing:
            w.remove_blobs(p["cache_dir"], p["repo_id"], manifest, state["corrupt"])
    if p["source_url"] and not state["verified"]:
        result["changed"] = True
        if writing:
            result["bytes_from_peer"] = w.fetch_from_peer(
                p["cache_dir"],
                p["repo_id"],
                manifest,
                p["source_url"],
                state["missing"] + state["corrupt"],
                p["timeout"],
            )
    if writing and (state["verified"] or p["source_url"]) and not p["remove_corrupt"]:
        # The links and the ref are written once the blobs are all there (hf download writes its own).
        result["changed"] = w.link_snapshot(p["cache_dir"], p["repo_id"], manifest, p["revision"]) or result["changed"]
        if not state["verified"]:
            after = w.verify(p["cache_dir"], p["repo_id"], manifest, "changed")
            result["verified"] = after["verified"]
            result["still_missing"] = after["missing"]
            result["still_corrupt"] = after["corrupt"]
    result["seconds"] = round(time.monotonic() - started, 3)
    result["started_at"] = round(started_at, 3)
    result["finished_at"] = round(started_at + result["seconds"], 3)
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("hub_endpoint", "manifest")],
        required_one_of=[("hub_endpoint", "manifest")],
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except w.WeightsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)


if __name__ == "__main__":
    main()
