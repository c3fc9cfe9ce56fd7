"""Run ansible-playbook against this checkout, the one way every role and playbook test does.

``run_playbook(playbook, inventory, *extra, ...)`` writes the inventory (a dict) as JSON next to the
test's files, runs the venv's ansible-playbook with this checkout's collection path and ansible.cfg and
the ``ansible.posix.json`` callback, and returns ``(proc, output)``: the CompletedProcess and the
callback's parsed JSON (``output["plays"][i]["tasks"]``, ``output["stats"]``).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.paths import ROOT

BIN = os.path.dirname(sys.executable)
ANSIBLE_PLAYBOOK = os.path.join(BIN, "ansible-playbook")


def run_playbook(playbook, inventory, *extra, workdir, env=None, path=(), timeout=120):
    """Run ``playbook`` (absolute, or relative to the repository root) on ``inventory``.

    ``inventory``: a dict (written to ``workdir/inventory.json``) or the path of an inventory file.
    ``extra``: further ansible-playbook arguments (``--check``, ``-e``, ``-v``...).
    ``env``: variables added to the environment; ``path``: folders put first on PATH (test doubles),
    before the venv's bin (the modules' interpreter and ansible's own commands).
    """
    if isinstance(inventory, dict):
        inv = Path(workdir) / "inventory.json"
        inv.write_text(json.dumps(inventory))
    else:
        inv = Path(inventory)
    full_env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        PATH=os.pathsep.join([str(p) for p in path] + [BIN, os.environ["PATH"]]),
    )
    full_env.update(env or {})
    proc = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inv), str(ROOT / playbook)] + [str(arg) for arg in extra],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if "{" not in proc.stdout:
        # ansible-playbook stopped before the callback wrote anything (a syntax error, a missing collection)
        raise AssertionError(
            "ansible-playbook printed no JSON (exit %d):\n%s\n%s"
            % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
        )
    return proc, json.loads(proc.stdout[proc.stdout.index("{") :])


def find_task(output, name_part, play=0):
    """The first task of ``play`` whose name contains ``name_part`` (its ``hosts`` map holds the results)."""
    tasks = output["plays"][play]["tasks"]
    for task in tasks:
        if name_part in task["task"]["name"]:
            return task
    raise AssertionError("no task %r in %s" % (name_part, [t["task"]["name"] for t in tasks]))


def task_result(output, name_part, play=0, host="node1"):
    """One host's result of the first task whose name contains ``name_part``."""
    return find_task(output, name_part, play)["hosts"][host]
