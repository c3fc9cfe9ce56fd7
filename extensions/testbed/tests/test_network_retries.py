"""The network steps of `make test` survive a mirror that fails its first answers (issue 10, item 6).

A local "upstream" mirror serves a few files; the flaky-mirror double (lib/flaky_mirror.py) stands in front
of it and answers 503 to the first requests for the paths it is told to fail. Against it:
lib/retry.sh retries a download until it comes through (or gives up, saying so), and
lib/debootstrap-image.sh, with a stand-in debootstrap that downloads through the double, tries the
bootstrap again keeping what the first try downloaded, into the one cache its suite's images share.
The full build against the real mirror is extensions/testbed/flaky-mirror-build.sh (minutes, network).
"""

import collections
import functools
import http.server
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import threading

import pytest

TESTBED = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("flaky_mirror", TESTBED / "lib" / "flaky_mirror.py")
flaky_mirror = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flaky_mirror)


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def mirror(tmp_path):
    """An upstream serving tmp_path/upstream that counts what it served, behind the flaky double."""
    root = tmp_path / "upstream"
    (root / "pool").mkdir(parents=True)
    served = collections.Counter()

    class Upstream(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            served[self.path] += 1
            super().do_GET()

    upstream, upstream_url = serve(functools.partial(Upstream, directory=str(root)))
    servers = [upstream]

    def front(match, fail_first, mode="503"):
        handler, failures = flaky_mirror.make_handler(upstream_url, re.compile(match), fail_first, mode)
        server, url = serve(handler)
        servers.append(server)
        return url, failures

    yield root, served, front
    for server in servers:
        server.shutdown()
        server.server_close()


def bash(*args, env=None, timeout=60):
    environ = {**os.environ, "LLMFLEET_NET_DELAY_S": "0", **(env or {})}
    return subprocess.run(["bash", *args], env=environ, text=True, capture_output=True, timeout=timeout, check=False)


def wget_or_skip():
    wget = shutil.which("wget")
    if not wget:
        pytest.fail("wget is missing: install it (apt-get install wget; debootstrap depends on it)")
    return wget


def test_a_download_that_fails_twice_succeeds_on_the_third_try(tmp_path, mirror):
    root, served, front = mirror
    (root / "pool" / "libssh2-1_1.10.0-3+b1_amd64.deb").write_bytes(b"the package")
    url, failures = front(r"libssh2-1_.*\.deb$", fail_first=2)
    out = tmp_path / "got.deb"
    result = bash(
        str(TESTBED / "lib" / "retry.sh"),
        wget_or_skip(),
        "-q",
        "-O",
        str(out),
        f"{url}/pool/libssh2-1_1.10.0-3+b1_amd64.deb",
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == b"the package"
    assert "attempt 1 of 4" in result.stderr and "attempt 2 of 4" in result.stderr
    assert "attempt 3" not in result.stderr
    assert sum(failures.values()) == 2 and sum(served.values()) == 1


def test_retry_gives_up_after_the_tries_allowed_and_names_the_command(tmp_path, mirror):
    root, served, front = mirror
    (root / "pool" / "a.deb").write_bytes(b"a")
    url, failures = front(r"\.deb$", fail_first=5)
    result = bash(
        str(TESTBED / "lib" / "retry.sh"),
        wget_or_skip(),
        "-q",
        "-O",
        str(tmp_path / "a"),
        f"{url}/pool/a.deb",
        env={"LLMFLEET_NET_TRIES": "2"},
    )
    assert result.returncode == 8  # wget's "server issued an error response"
    assert (
        f"giving up on '{shutil.which('wget')} -q -O {tmp_path / 'a'} {url}/pool/a.deb' after 2 attempts"
        in result.stderr
    )
    assert sum(failures.values()) == 2 and not served


@pytest.mark.parametrize(
    "name, value", [("LLMFLEET_NET_TRIES", "many"), ("LLMFLEET_NET_TRIES", "0"), ("LLMFLEET_NET_DELAY_S", "1.5")]
)
def test_a_bad_retry_setting_is_named_with_what_would_work(name, value):
    result = bash(str(TESTBED / "lib" / "retry.sh"), "true", env={name: value})
    assert result.returncode == 2
    assert f"{name}={value} is not" in result.stderr and "use e.g." in result.stderr


# A stand-in for debootstrap: fetches each --include package as pool/<name>.deb from the mirror into
# --cache-dir (through partial/, as debootstrap does), skipping what is cached; fails when one will not come.
FAKE_DEBOOTSTRAP = r"""
for arg; do case "$arg" in --cache-dir=*) cache="${arg#--cache-dir=}" ;; --include=*) inc="${arg#--include=}" ;; esac; done
mirror="${*: -1}"
echo "fake debootstrap: suite ${*: -3:1}"
IFS=, read -ra pkgs <<< "$inc"
for p in "${pkgs[@]}"; do
  [ -e "$cache/$p.deb" ] && { echo "I: using cached $p"; continue; }
  wget -q -O "$cache/partial/$p.deb" "$mirror/pool/$p.deb" \
    || { rm -f "$cache/partial/$p.deb"; echo "W: Couldn't download package $p"; exit 1; }
  mv "$cache/partial/$p.deb" "$cache/$p.deb"
done
"""


def build_image(tmp_path, mirror_url, suite="bookworm", image="t/x:latest"):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    for name, body in {
        "debootstrap": FAKE_DEBOOTSTRAP,
        "docker": '[ "$1" = import ] && { cat > /dev/null; exit 0; }; exit 1',
    }.items():
        (fake_bin / name).write_text("#!/bin/bash\nset -u\n" + body)
        (fake_bin / name).chmod(0o755)
    packages = tmp_path / "packages"
    packages.write_text("# test packages\nlibc6\nlibssh2-1\n")
    args = [str(TESTBED / "lib" / "debootstrap-image.sh"), image, str(packages), "", suite]
    return bash(
        *args,
        env={
            "PATH": f"{fake_bin}:{os.environ['PATH']}",
            "LLMFLEET_TESTBED_MIRROR": mirror_url,
            "LLMFLEET_TESTBED_CACHE": str(tmp_path / "cache"),
            "LLMFLEET_TESTBED_ARCH": "amd64",
            "LLMFLEET_TESTBED_REBUILD": "1",
        },
    )


def test_a_failed_debootstrap_is_retried_keeping_what_it_downloaded(tmp_path, mirror):
    wget_or_skip()
    root, served, front = mirror
    for name in ("libc6", "libssh2-1"):
        (root / "pool" / f"{name}.deb").write_bytes(name.encode())
    url, failures = front(r"libssh2-1\.deb$", fail_first=1)
    result = build_image(tmp_path, url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "debootstrap of t/x:latest failed (attempt 1)" in result.stderr
    assert "Couldn't download package libssh2-1" in result.stderr
    assert "built t/x:latest" in result.stdout
    # The second try fetched only what the first could not: libc6 came from the mirror once.
    assert served == {"/pool/libc6.deb": 1, "/pool/libssh2-1.deb": 1}
    assert failures == {"/pool/libssh2-1.deb": 1}
    log = (tmp_path / "cache" / "t_x_latest.log").read_text()
    assert "=== debootstrap attempt 2" in log and "I: using cached libc6" in log
    # Both are in the suite's shared cache; the build's own working copy is gone.
    shared = tmp_path / "cache" / "debs" / "bookworm-amd64"
    assert sorted(p.name for p in shared.glob("*.deb")) == ["libc6.deb", "libssh2-1.deb"]
    assert not (tmp_path / "cache" / "t_x_latest.debs").exists()


def test_images_of_one_suite_share_the_download_cache_and_another_suite_has_its_own(tmp_path, mirror):
    wget_or_skip()
    root, served, front = mirror
    for name in ("libc6", "libssh2-1"):
        (root / "pool" / f"{name}.deb").write_bytes(name.encode())
    url, _served = front(r"^$", fail_first=0)
    assert build_image(tmp_path, url, image="t/host:latest").returncode == 0
    assert build_image(tmp_path, url, image="t/engine-base:latest").returncode == 0
    assert served == {"/pool/libc6.deb": 1, "/pool/libssh2-1.deb": 1}  # the second image downloaded nothing
    result = build_image(tmp_path, url, suite="trixie", image="t/podman-host:latest")
    assert result.returncode == 0, result.stderr
    assert served == {"/pool/libc6.deb": 2, "/pool/libssh2-1.deb": 2}
    assert (tmp_path / "cache" / "debs" / "trixie-amd64" / "libc6.deb").exists()


def test_a_debootstrap_that_keeps_failing_fails_the_build_after_the_tries_allowed(tmp_path, mirror):
    wget_or_skip()
    root, served, front = mirror
    (root / "pool" / "libc6.deb").write_bytes(b"libc6")  # libssh2-1 is missing upstream: 404 every time
    url, _served = front(r"^$", fail_first=0)
    result = build_image(tmp_path, url)
    assert result.returncode == 1
    assert "debootstrap of t/x:latest failed 4 times" in result.stderr
    assert served["/pool/libc6.deb"] == 1 and served["/pool/libssh2-1.deb"] == 4
