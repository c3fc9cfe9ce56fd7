"""playbooks/preflight.yml reads each host once when it plans the fleet itself: the read before planning (GPUs, the
weights role's fact, and what the preflight role checks, read wide) covers the plan, and the role picks the plan's
part out of it; a host whose read does not cover the plan (its build not in the cache yet) is read again by the
role. Either way the verdict and the summary are the same.

Run by ansible-playbook on this machine (connection local) with the GPU test double (extensions/testbed/bin/
nvidia-smi, an 8 x B200 description), a docker double (no daemon touched) and a no-op nvidia-container-runtime-hook
first on PATH; a listener this test opens holds the planned HTTP port, so the verdict has a problem to report.
"""

import os
import socket
import sys

import pytest
from helpers import gpu_fact_samples as samples
from helpers.paths import ROOT
from helpers.playbook import find_task, run_playbook
from helpers.preflight import preflight_doubles

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

pytestmark = pytest.mark.slow

DOUBLE_DIR = ROOT / "extensions" / "testbed" / "bin"
GPUS = ROOT / "extensions" / "testbed" / "gpus" / "b200x8.json"


@pytest.mark.parametrize("cached", [True, False], ids=["build-cached", "build-not-cached"])
def test_one_read_per_host_when_it_covers_the_plan(tmp_path, cached):
    bin_dir = preflight_doubles(tmp_path)
    hf = tmp_path / "hf"
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    fleet = plan_fleet({"node1": {"gpus": samples.b200x8(), "address": "127.0.0.1", "choices": {"port": port}}})
    model = fleet["hosts"]["node1"]["instances"][0]["model_id"]
    (hf / "hub" / "models--other--model" / "snapshots").mkdir(parents=True)  # another model: never reported
    if cached:
        snap = hf / "hub" / ("models--" + model.replace("/", "--")) / "snapshots" / ("c" * 40)
        snap.mkdir(parents=True)
        (snap / "config.json").write_text("{}")
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ansible_become": False,
        "ansible_host": "127.0.0.1",
        "serve_fact_dir": str(tmp_path / "facts"),
        "serve_hf_cache_dir": str(hf),
        "serve_port": port,
        # A build of hundreds of GB fits on no test machine's disk: a negative headroom leaves the port problem only.
        "preflight_disk_headroom_gb": -(10**6),
    }
    try:
        proc, out = run_playbook(
            "playbooks/preflight.yml",
            {"all": {"children": {"llmfleet_serving": {"hosts": {"node1": host}}}}},
            workdir=tmp_path,
            env={"LLMFLEET_TESTBED_GPUS": str(GPUS), "LLMFLEET_PYTHON3": sys.executable},
            path=[bin_dir, DOUBLE_DIR],
            timeout=240,
        )
    finally:
        holder.close()
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
    wide = find_task(out, "Read the GPUs, the weights role's local fact")["hosts"]["node1"]
    assert wide["ansible_facts"]["llmfleet_gpus"]["product"] == "B200"
    own = find_task(out, "Read the runtime, toolkit, free disk and planned ports")["hosts"]["node1"]
    # The role reads the host again only when the first read does not cover the plan (the build not cached).
    assert own.get("skipped", False) is cached
    with open("/proc/self/comm") as f:
        me = f.read().strip()
    problems = find_task(out, "Fail the play for every host")["hosts"]["node1"]["msg"]
    assert problems == [
        "node1: port %d (HTTP port of llmfleet-deepseek) is taken by %s (pid %d) on 127.0.0.1; stop that, or move "
        "serve_port / serve_dist_port (this host's instances claim %d-%d)" % (port, me, os.getpid(), port, port + 1)
    ]
    summary = find_task(out, "Show what each host has")["hosts"]["node1"]["msg"]
    assert ("%s " % hf) in summary and summary.endswith("ports %d,%d" % (port, port + 1))
    assert ("(weights there)" in summary) is cached
