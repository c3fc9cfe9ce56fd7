"""The testbed's Docker pieces as the docker-marked unit tests use them (extensions/testbed).

- ``docker(*args, check=True, timeout=120, **kw)``: the docker CLI; a failure (with check) is an AssertionError
  with the command and the end of its output.
- ``require_docker(*images)``: fail (a skip is not a pass) when Docker does not answer or an image is missing,
  saying how to get it.
- ``start_test_host(prefix)``: a context manager; a testbed host (systemd as PID 1, its own dockerd) started by
  extensions/testbed/start-host.sh under /tmp/molecule.lock (the lock the molecule scenarios share: one testbed
  user at a time on this machine), booted far enough for systemctl to answer; removed on exit. Gives its name.
- ``quadlet_generator(directory)``: podman 5's quadlet generator (the podman-host image) in dry-run mode on the
  ``.container`` files of ``directory``: ``({unit name without .service: generated service}, stderr)``.
"""

import contextlib
import fcntl
import shutil
import subprocess
import time
import uuid

import pytest

from helpers.paths import ROOT

HOST_IMAGE = "llmfleet-testbed/host:latest"
PODMAN_HOST_IMAGE = "llmfleet-testbed/podman-host:latest"


def docker(*args, check=True, timeout=120, **kw):
    proc = subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and proc.returncode != 0:
        raise AssertionError("docker %s: %s%s" % (" ".join(args[:3]), proc.stdout[-2000:], proc.stderr[-2000:]))
    return proc


def require_docker(*images):
    if not shutil.which("docker") or docker("info", check=False).returncode != 0:
        pytest.fail("Docker is not running: these tests need it (make host-packages, then make testbed-images)")
    for image in images:
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.fail("no image %s: build it with make testbed-images" % image)


@contextlib.contextmanager
def start_test_host(prefix):
    require_docker(HOST_IMAGE, PODMAN_HOST_IMAGE)
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    with open("/tmp/molecule.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            subprocess.run(["bash", str(ROOT / "extensions/testbed/start-host.sh"), name], check=True, timeout=120)
            # Booted far enough for systemctl to answer (the unit's Requires=docker.service starts dockerd).
            for _attempt in range(300):
                if docker("exec", name, "systemctl", "show", "-p", "Version", check=False).returncode == 0:
                    break
                time.sleep(0.2)
            yield name
        finally:
            docker("rm", "-f", name, check=False)
            docker("volume", "rm", name + "-docker", check=False)


def quadlet_generator(directory):
    directory.chmod(0o755)  # the generator in the container reads it as another user
    proc = docker(
        "run",
        "--rm",
        "-v",
        "%s:/etc/containers/systemd:ro" % directory,
        "--entrypoint",
        "/usr/lib/systemd/system-generators/podman-system-generator",
        PODMAN_HOST_IMAGE,
        "-dryrun",
        check=False,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    services = {}
    for chunk in proc.stdout.split("\n---"):
        head, _sep, body = chunk.lstrip("-").partition("---\n")
        if head.endswith(".service"):
            services[head[: -len(".service")]] = body
    return services, proc.stderr
