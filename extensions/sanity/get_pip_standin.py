"""Stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches ``get-pip-<version>.py`` from a host CI cannot reach. This file is copied to
``~/.ansible/test/cache/get_pip_<version>.py`` (see mk/sanity.mk) and does the same job offline:
install pip from the interpreter's bundled wheel, then install the requested packages from the
configured package index.
"""

import ensurepip
import os
import subprocess
import sys
import time

ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at /dev/null while it runs; drop it so this machine's pip
# settings (index mirror) apply to the install below.
os.environ.pop("PIP_CONFIG_FILE", None)
# ansible-test's own ``pip install`` runs in this environment next, with an environment that drops
# PIP_* variables: a pip.conf in the virtual environment is how its installs retry a flaky index too.
if sys.prefix != sys.base_prefix:
    with open(os.path.join(sys.prefix, "pip.conf"), "w", encoding="utf-8") as conf:
        conf.write("[global]\nretries = 10\ntimeout = 60\n")
# get-pip.py options that ``pip install`` does not know.
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
command = [sys.executable, "-m", "pip", "install", "--retries", "10", "--timeout", "60"] + args
# pip retries single requests; this loop runs the install again when pip gives up on one.
for attempt in range(1, 5):
    status = subprocess.call(command)
    if status == 0 or attempt == 4:
        sys.exit(status)
    sys.stderr.write(
        f"get_pip_standin: pip install failed (exit status {status}, attempt {attempt} of 4); "
        f"trying again in {5 * 2 ** (attempt - 1)} s\n"
    )
    time.sleep(5 * 2 ** (attempt - 1))
