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

ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at /dev/null while it runs; drop it so this machine's pip
# settings (index mirror) apply to the install below.
os.environ.pop("PIP_CONFIG_FILE", None)
# get-pip.py options that ``pip install`` does not know.
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
