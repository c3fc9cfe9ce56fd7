"""TEST DOUBLE of the Hugging Face Hub: the part of its HTTP API that `hf download` and
`HfApi.repo_info(files_metadata=True)` use, for small generated repositories with real checksums.

The model hub is an edge the tests cannot reach, so the real huggingface_hub client runs against this
server, selected with HF_ENDPOINT=http://HOST:PORT. Standard library only (it runs in a test host).

    GET  /api/models/ORG/NAME[/revision/REV][?blobs=true]   id, sha, siblings (size, blobId, lfs with blobs=true)
    HEAD /ORG/NAME/resolve/REV/PATH                          X-Repo-Commit, ETag (git blob id) or X-Linked-Etag
                                                             (LFS sha256) + X-Linked-Size, Content-Length
    GET  /ORG/NAME/resolve/REV/PATH                          the bytes; Range: bytes=N- answers 206
    GET  /api/models/ORG/NAME/tree/REV?recursive=true     the file list (hf cache verify)
    GET  /_double/stats                                      bytes and requests served (what the tests read)

No X-Xet-* headers are sent, so the client downloads over plain HTTP. Faults for tests: --fail-first N answers
HTTP 500 to the first N requests (then recovers); --token T answers 401 without "Authorization: Bearer T".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_THRESHOLD = 10 * 1024  # files at least this large are "LFS" files (sha256 named), like the hub's big files


def generated_files(seed="llmfleet", shard_bytes=256 * 1024):
    """A tiny model repository: a config, a tokenizer, two weight shards and a nested file; deterministic bytes."""

    def blob(label, size):
        out = bytearray()
        counter = 0
        while len(out) < size:
            out += hashlib.sha256(("%s/%s/%d" % (seed, label, counter)).encode()).digest()
            counter += 1
        return bytes(out[:size])

    return {
        "config.json": json.dumps({"model_type": "deepseek_v4", "double": seed}, sort_keys=True).encode() + b"\n",
        "tokenizer.json": json.dumps({"version": "1.0", "vocab": list(range(200))}).encode(),
        "model-00001-of-00002.safetensors": blob("shard1", shard_bytes),
        "model-00002-of-00002.safetensors": blob("shard2", shard_bytes // 2 + 123),
        "inference/README.md": b"# nested file of the hub double\n",
    }


class Repo:
    def __init__(self, repo_id, files, revision="main"):
        self.repo_id = repo_id
        self.revision = revision
        self.files = {}
        for path, data in sorted(files.items()):
            lfs = len(data) >= LFS_THRESHOLD
            git_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # nosec B324 - git object id
            sha256 = hashlib.sha256(data).hexdigest()
            self.files[path] = {"data": data, "lfs": lfs, "git_id": git_id, "sha256": sha256}
        listing = "".join("%s %s\n" % (p, f["git_id"]) for p, f in self.files.items())
        self.commit = hashlib.sha1(listing.encode()).hexdigest()  # nosec B324 - a commit id, as git names one

    @property
    def size(self):
        return sum(len(f["data"]) for f in self.files.values())

    def resolves(self, rev):
        return rev in (self.revision, self.commit)

    def tree(self):
        """The recursive tree listing (files only: a flat list is what the client reads with recursive=true)."""
        return [_tree_entry(path, f) for path, f in self.files.items()]

    def info(self, blobs):
        siblings = []
        for path, f in self.files.items():
            entry = {"rfilename": path}
            if blobs:
                entry.update({"size": len(f["data"]), "blobId": f["git_id"]})
                if f["lfs"]:
                    entry["lfs"] = {"size": len(f["data"]), "sha256": f["sha256"], "pointerSize": 134}
            siblings.append(entry)
        return {
            "_id": "double-" + self.commit[:12],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "sha": self.commit,
            "private": False,
            "gated": False,
            "disabled": False,
            "tags": ["test-double"],
            "siblings": siblings,
        }


def _tree_entry(path, f):
    entry = {"type": "file", "path": path, "size": len(f["data"]), "oid": f["git_id"]}
    if f["lfs"]:
        entry["lfs"] = {"oid": f["sha256"], "size": len(f["data"]), "pointerSize": 134}
    return entry


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.bytes_served = 0
        self.requests = 0
        self.failed = 0
        self.by_file = {}

    def snapshot(self):
        with self.lock:
            return {
                "bytes_served": self.bytes_served,
                "requests": self.requests,
                "failed": self.failed,
                "by_file": dict(self.by_file),
            }


def make_handler(repos, stats, fail_first=0, token=None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "hubdouble/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # noqa: A003 - one line per request on stderr, like the hub's access log
            sys.stderr.write("hubdouble: %s %s\n" % (self.address_string(), fmt % args))

        def _send(self, status, body=b"", headers=None, send_body=True):
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body and body:
                self.wfile.write(body)

        def _json(self, status, data, error_code=None):
            headers = {"Content-Type": "application/json"}
            if error_code:
                headers["X-Error-Code"] = error_code
            self._send(status, json.dumps(data).encode(), headers)

        def _gate(self):
            with stats.lock:
                stats.requests += 1
                failing = stats.requests <= fail_first
                if failing:
                    stats.failed += 1
            if failing:
                self._json(500, {"error": "hub double: injected failure (--fail-first)"})
                return False
            if token and self.headers.get("Authorization") != "Bearer " + token:
                self._json(401, {"error": "Invalid credentials in Authorization header"})
                return False
            return True

        def do_HEAD(self):  # noqa: N802
            self._route(send_body=False)

        def do_GET(self):  # noqa: N802
            self._route(send_body=True)

        def _route(self, send_body):
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            if parts[:2] == ["_double", "stats"]:
                return self._json(200, stats.snapshot())
            if not self._gate():
                return None
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                repo_id = "/".join(parts[2:4])
                rev = parts[5] if len(parts) >= 6 and parts[4] == "revision" else "main"
                repo = repos.get(repo_id)
                if repo is None:
                    return self._json(404, {"error": "Repository not found"}, "RepoNotFound")
                if not repo.resolves(rev):
                    return self._json(404, {"error": "Invalid rev id: %s" % rev}, "RevisionNotFound")
                if len(parts) >= 6 and parts[4] == "tree":  # list_repo_tree (hf cache verify): /tree/REV[/PATH]
                    if not repo.resolves(parts[5]):
                        return self._json(404, {"error": "Invalid rev id: %s" % parts[5]}, "RevisionNotFound")
                    return self._json(200, repo.tree())
                return self._json(200, repo.info("blobs=true" in (url.query or "").lower()))
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]), send_body)
            return self._json(404, {"error": "hub double: no route for %s" % url.path})

        def _resolve(self, repo_id, rev, path, send_body):
            repo = repos.get(repo_id)
            if repo is None:
                return self._json(404, {"error": "Repository not found"}, "RepoNotFound")
            if not repo.resolves(rev):
                return self._json(404, {"error": "Invalid rev id: %s" % rev}, "RevisionNotFound")
            f = repo.files.get(path)
            if f is None:
                return self._json(404, {"error": "Entry not found"}, "EntryNotFound")
            data = f["data"]
            headers = {
                "X-Repo-Commit": repo.commit,
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            if f["lfs"]:
                headers["X-Linked-Etag"] = '"%s"' % f["sha256"]
                headers["X-Linked-Size"] = str(len(data))
                headers["ETag"] = '"%s"' % f["sha256"]
            else:
                headers["ETag"] = '"%s"' % f["git_id"]
            status, start = 200, 0
            wanted = self.headers.get("Range", "")
            if send_body and wanted.startswith("bytes=") and wanted[6:].split("-")[0].isdigit():
                start = int(wanted[6:].split("-")[0])
                if start >= len(data):
                    headers["Content-Range"] = "bytes */%d" % len(data)
                    return self._send(416, b"", headers)
                status = 206
                headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
            body = data[start:]
            headers["Content-Length"] = str(len(body))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if send_body:
                # Count each chunk before it reaches the socket: a client that has read the whole body may ask
                # /_double/stats at once and must see every byte counted. A chunk whose write fails (the client
                # went away mid-copy) takes its count back.
                for offset in range(0, len(body), 64 * 1024):
                    chunk = body[offset : offset + 64 * 1024]
                    self._count(path, len(chunk))
                    try:
                        self.wfile.write(chunk)
                    except OSError:
                        self._count(path, -len(chunk))
                        raise
            return None

        def _count(self, path, size):
            with stats.lock:
                stats.bytes_served += size
                stats.by_file[path] = stats.by_file.get(path, 0) + size

    return Handler


def serve(host, port, repos, fail_first=0, token=None):
    stats = Stats()
    server = ThreadingHTTPServer((host, port), make_handler(repos, stats, fail_first, token))
    server.daemon_threads = True
    server.stats = stats
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description="TEST DOUBLE of the Hugging Face Hub's download API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--repo", action="append", default=None, help="ORG/NAME of a generated repository")
    parser.add_argument("--shard-bytes", type=int, default=256 * 1024)
    parser.add_argument("--fail-first", type=int, default=0, help="answer 500 to the first N requests")
    parser.add_argument("--token", default=None, help="require this bearer token (TEST-ONLY value)")
    parser.add_argument("--print-manifest", action="store_true", help="print each repository's commit and size")
    args = parser.parse_args(argv)
    repos = {}
    for repo_id in args.repo or ["llmfleet-test/tiny-model"]:
        repos[repo_id] = Repo(repo_id, generated_files(repo_id, args.shard_bytes))
    if args.print_manifest:
        for repo in repos.values():
            print(json.dumps({"repo": repo.repo_id, "commit": repo.commit, "size": repo.size}))
        return 0
    server = serve(args.host, args.port, repos, args.fail_first, args.token)
    sys.stderr.write("hubdouble: serving %s on %s:%d\n" % (", ".join(repos), args.host, args.port))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
