"""What playbooks/preflight.yml needs on this machine to run against local hosts without touching Docker.

- ``FAKE_DOCKER``: TEST DOUBLE for the docker CLI, answering what host_preflight asks as docker 27 does.
- ``preflight_doubles(tmp_path)``: a bin folder holding that docker and a no-op nvidia-container-runtime-hook
  (put it first on the PATH: run_playbook's ``path``).
- ``free_ports(count)``: a base port with ``count`` consecutive free ports above it.
"""

import socket

FAKE_DOCKER = """#!/bin/sh
# Test double for the docker CLI: what host_preflight asks, answered as docker 27 does, no daemon touched.
case "$1" in
  --version) echo "Docker version 27.3.1, build ce12230" ;;
  info) echo '{"ServerVersion":"27.3.1","Runtimes":{"io.containerd.runc.v2":{},"runc":{}},"DefaultRuntime":"runc"}' ;;
  ps) ;;
  *) echo "fake docker: unexpected $*" >&2; exit 1 ;;
esac
"""


def preflight_doubles(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("nvidia-container-runtime-hook", "#!/bin/sh\nexit 0\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def free_ports(count):
    """A base port with ``count`` consecutive free ports above it (bound and released at once)."""
    tries = 50
    while tries:
        tries -= 1
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
        probe.close()
        if base + count > 65000:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                s.bind(("0.0.0.0", port))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no %d free consecutive ports" % count)
