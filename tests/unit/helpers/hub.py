"""The hub double (extensions/hubdouble: a TEST DOUBLE of the Hugging Face Hub's download API, real sha256s) as the
weights tests run it, and a seeder's cache as `hf download` leaves it."""

import contextlib
import importlib.util
import os
import threading

from ansible_collections.llmfleet.serving.plugins.module_utils import _weights as w
from ansible_collections.llmfleet.serving.plugins.module_utils._net_address import url_host
from helpers.paths import ROOT

REPO = "llmfleet-test/tiny-model"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hubdouble = _load("hubdouble", ROOT / "extensions" / "hubdouble" / "hubdouble.py")


def serve_in_thread(server, poll_interval=0.05):
    """Serve in a daemon thread; returns the server's URL. A short poll interval: shutdown() waits for the next poll."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True).start()
    return "http://%s:%d" % (url_host(server.server_address[0]), server.server_address[1])


@contextlib.contextmanager
def running_hub(shard_bytes=64 * 1024, **serve_options):
    """The hub double serving one generated repository (REPO) on 127.0.0.1: yields (url, repo, server).
    serve_options: fail_first (answer 500 to the first N requests), token (require this bearer token)."""
    repo = hubdouble.Repo(REPO, hubdouble.generated_files(REPO, shard_bytes))
    server = hubdouble.serve("127.0.0.1", 0, {REPO: repo}, **serve_options)
    try:
        yield serve_in_thread(server), repo, server
    finally:
        server.shutdown()
        server.server_close()


def seed_cache(cache_dir, manifest, repo, revision=None):
    """A seeder's cache as hf download leaves it: blobs named by checksum and the snapshot's links (revision given:
    also the ref that names it). Returns the repository's folder in the cache."""
    folder = w.repo_folder(str(cache_dir), REPO)
    os.makedirs(os.path.join(folder, "blobs"), exist_ok=True)
    for entry in manifest["files"]:
        with open(os.path.join(folder, "blobs", entry["blob"]), "wb") as handle:
            handle.write(repo.files[entry["path"]]["data"])
    w.link_snapshot(str(cache_dir), REPO, manifest, revision or manifest["commit"])
    return folder
