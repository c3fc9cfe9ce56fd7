"""Preflight's verdict (_preflight_check / the preflight_problems filter) on fleets the real planner makes and on
findings shaped as host_preflight returns them: one line per problem, host first, the numbers, what would work."""

import copy

import pytest
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.filter.preflight import (
    preflight_probe_args,
    preflight_problems,
    preflight_running_cell,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet
from ansible_collections.llmfleet.serving.plugins.module_utils._preflight_check import instance_ports, problems

GB = 10**9
HF = "/root/.cache/huggingface"


def fleet_b200_and_h100_cell():
    return plan_fleet(
        {
            "b200-1": {"gpus": samples.b200x8(), "address": "10.0.0.11", "choices": {"engine": "vllm"}},
            "h100-1": {"gpus": samples.gpus("H100", 4), "address": "10.0.0.21", "cell": "pair"},
            "h100-2": {"gpus": samples.gpus("H100", 4), "address": "10.0.0.22", "cell": "pair"},
        },
        ["b200-1", "h100-1", "h100-2"],
    )


def gathered(runtime="docker", free_gb=1000, models=(), listeners=(), containers=(), cdi_devices=None):
    return {
        "runtime": {
            "name": runtime,
            "found": True,
            "path": "/usr/bin/" + runtime,
            "version": "27.3.1",
            "daemon": {"reachable": True, "version": "27.3.1", "runtimes": ["runc"], "error": None},
        },
        "toolkit": {
            "binaries": {
                "nvidia-container-runtime-hook": "/usr/bin/nvidia-container-runtime-hook",
                "nvidia-container-runtime": None,
                "nvidia-ctk": None,
            },
            "cdi": {
                "dirs": ["/etc/cdi", "/var/run/cdi"],
                "specs": ["/etc/cdi/nvidia.yaml"] if cdi_devices else [],
                "devices": list(cdi_devices or []),
                "errors": [],
            },
        },
        "weights": [
            {
                "dir": HF,
                "exists": True,
                "checked_path": HF,
                "free_bytes": int(free_gb * GB),
                "total_bytes": 4000 * GB,
                "models": [dict({"present": False, "bytes": 0}, **m) for m in models],
            }
        ],
        "listeners": list(listeners),
        "containers": list(containers),
    }


def findings_for(fleet, **overrides):
    out = {}
    for host in fleet["hosts"]:
        gpus = samples.b200x8() if host.startswith("b200") else samples.gpus("H100", 4)
        out[host] = {"gather": gathered(), "gpus": gpus, "connect": None, "listen": None}
    out["h100-2"]["connect"] = {
        "host": "10.0.0.21",
        "port": 20000,
        "connected": True,
        "error": None,
        "attempts": 1,
        "seconds": 0.01,
    }
    for host, changes in overrides.items():
        out[host.replace("_", "-")].update(changes)
    return out


def test_a_ready_fleet_has_no_problem():
    fleet = fleet_b200_and_h100_cell()
    assert problems(fleet, findings_for(fleet)) == []


def test_probe_args_name_the_ports_the_planner_claims_and_the_cell_role():
    fleet = fleet_b200_and_h100_cell()
    assert preflight_probe_args(fleet, "b200-1") == {
        "hf_cache_dirs": [HF],
        "models": ["deepseek-ai/DeepSeek-V4-Flash"],
        "ports": [8000, 8001],
        "role": "standalone",
        "cell": None,
        "head": None,
        "head_address": None,
        "dist_port": None,
        "workers": 0,
    }
    head = preflight_probe_args(fleet, "h100-1")
    # SGLang's head: HTTP 8000 and the dist-init port 20000 with the 9 ports above it.
    assert head["ports"] == [8000] + list(range(20000, 20010))
    assert (head["role"], head["cell"], head["head_address"], head["dist_port"], head["workers"]) == (
        "head",
        "pair",
        "10.0.0.21",
        20000,
        1,
    )
    worker = preflight_probe_args(fleet, "h100-2")
    assert (worker["role"], worker["ports"], worker["models"]) == (
        "worker",
        [8000],
        ["sgl-project/DeepSeek-V4-Flash-FP8"],
    )


def test_packed_sglang_replicas_claim_their_own_nccl_port():
    fleet = plan_fleet(
        {
            "h200-1": {
                "gpus": samples.h200x8(),
                "address": "10.0.0.31",
                "choices": {"engine": "sglang"},
                "dist_port": 21000,
            }
        }
    )
    ports = [instance_ports(i, fleet) for i in fleet["hosts"]["h200-1"]["instances"]]
    assert [[claim[0] for claim in claims] for claims in ports] == [[8000, 21000], [8001, 21001]]


def test_runtime_missing_daemon_down_and_toolkit_missing():
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet)
    f["b200-1"]["gather"]["runtime"] = {"name": "docker", "found": False, "path": None, "version": None}
    f["b200-1"]["gather"]["toolkit"]["binaries"] = {
        "nvidia-container-runtime-hook": None,
        "nvidia-container-runtime": None,
        "nvidia-ctk": None,
    }
    f["h100-1"]["gather"]["runtime"]["daemon"] = {
        "reachable": False,
        "runtimes": [],
        "error": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
    }
    lines = problems(fleet, f)
    assert lines == [
        "b200-1: container runtime docker not found (PATH and /usr/bin, /usr/local/bin, /usr/sbin); install docker "
        "(docker.io or docker-ce) (with the NVIDIA container toolkit), or set serve_runtime to the runtime the host has",
        "b200-1: no NVIDIA container toolkit for docker: neither nvidia-container-runtime-hook nor "
        "nvidia-container-runtime on PATH, and docker info lists no nvidia runtime (runtimes: none read); install "
        "nvidia-container-toolkit (docker run --gpus needs its hook) and restart docker",
        "h100-1: docker 27.3.1 is installed but its daemon does not answer (docker info: Cannot connect to the "
        "Docker daemon at unix:///var/run/docker.sock); start it (systemctl enable --now docker) and check that the "
        "play's user may use /var/run/docker.sock (become: true)",
    ]


def test_an_nvidia_runtime_in_docker_info_is_a_toolkit_too():
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet)
    f["b200-1"]["gather"]["toolkit"]["binaries"] = {}
    f["b200-1"]["gather"]["runtime"]["daemon"]["runtimes"] = ["nvidia", "runc"]
    assert problems(fleet, f) == []


def test_podman_per_gpu_sets_need_cdi_devices():
    fleet = plan_fleet({"b200-1": {"gpus": samples.b200x8(), "address": "10.0.0.11", "choices": {"engine": "vllm"}}})
    no_spec = {"b200-1": {"gather": gathered("podman"), "gpus": samples.b200x8()}}
    assert problems(fleet, no_spec) == [
        "b200-1: podman finds no CDI spec for nvidia.com/gpu in /etc/cdi, /var/run/cdi, so the planned devices "
        "nvidia.com/gpu=0, nvidia.com/gpu=1, nvidia.com/gpu=2, nvidia.com/gpu=3, nvidia.com/gpu=4, nvidia.com/gpu=5, "
        "nvidia.com/gpu=6, nvidia.com/gpu=7 cannot be added to the containers; generate it on the host: "
        "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml (nvidia-container-toolkit >= 1.12)"
    ]
    # A spec named by UUID only (device-name-strategy uuid) has no nvidia.com/gpu=N.
    uuid_only = {
        "b200-1": {
            "gather": gathered("podman", cdi_devices=["nvidia.com/gpu=GPU-1", "nvidia.com/gpu=all"]),
            "gpus": samples.b200x8(),
        }
    }
    lines = problems(fleet, uuid_only)
    assert len(lines) == 2 and lines[0].startswith(
        "b200-1: llmfleet-deepseek needs the CDI devices nvidia.com/gpu=0, nvidia.com/gpu=1, nvidia.com/gpu=2, "
        "nvidia.com/gpu=3, which /etc/cdi/nvidia.yaml does not define (defined: nvidia.com/gpu=GPU-1, nvidia.com/gpu=all)"
    )
    full = ["nvidia.com/gpu=%d" % i for i in range(8)] + ["nvidia.com/gpu=all"]
    assert problems(fleet, {"b200-1": {"gather": gathered("podman", cdi_devices=full), "gpus": samples.b200x8()}}) == []


def test_driver_older_than_the_image_needs():
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet)
    f["b200-1"]["gpus"] = samples.b200x8(driver="570.86.10", cuda="12.8")
    assert problems(fleet, f) == [
        "b200-1: NVIDIA driver 570.86.10 is older than 580, which llmfleet-deepseek's image "
        "vllm/vllm-openai:deepseekv4-cu130 needs (its CUDA); upgrade the driver to 580 or newer, or set serve_image "
        "to an image built for the CUDA this driver supports (12.8)"
    ]


def test_disk_too_small_unless_the_weights_are_there():
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet)
    f["b200-1"]["gather"] = gathered(free_gb=100)
    lines = problems(fleet, f, disk_headroom_gb=10)
    # Two replicas share one copy of the weights: 146 GB once, not twice.
    assert lines == [
        "b200-1: not enough free disk for the weights under /root/.cache/huggingface: the filesystem of "
        "/root/.cache/huggingface has 100.0 GB free, the download of deepseek-ai/DeepSeek-V4-Flash (146 GB) needs "
        "146.0 GB + 10.0 GB headroom (preflight_disk_headroom_gb); free 56.0 GB there, or set serve_hf_cache_dir to a "
        "filesystem with room, or put the weights there first"
    ]
    f["b200-1"]["gather"] = gathered(
        free_gb=100, models=[{"model_id": "deepseek-ai/DeepSeek-V4-Flash", "bytes": 60 * GB}]
    )
    assert problems(fleet, f, disk_headroom_gb=10) == []  # a partial download needs only the rest (86 GB)
    f["b200-1"]["gather"] = gathered(free_gb=1, models=[{"model_id": "deepseek-ai/DeepSeek-V4-Flash", "present": True}])
    assert problems(fleet, f, disk_headroom_gb=10) == []


def test_a_port_taken_by_another_process_but_not_by_our_own_container():
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet)
    f["b200-1"]["gather"]["listeners"] = [
        {"port": 8000, "address": "0.0.0.0", "family": "ipv4", "pid": 4242, "process": "nginx", "container": None},
        {"port": 8000, "address": "::", "family": "ipv6", "pid": 4242, "process": "nginx", "container": None},
        {
            "port": 8001,
            "address": "0.0.0.0",
            "family": "ipv4",
            "pid": 77,
            "process": "docker-proxy",
            "container": "llmfleet-deepseek-1",
        },
    ]
    f["h100-1"]["gather"]["listeners"] = [
        {
            "port": 20003,
            "address": "0.0.0.0",
            "family": "ipv4",
            "pid": 99,
            "process": "python3",
            "container": "llmfleet-deepseek",
        },  # our head on a re-run (host network)
    ]
    f["h100-1"]["gather"]["containers"] = [
        {"id": "a" * 64, "name": "llmfleet-deepseek", "host_ports": [], "llmfleet": True},
        {"id": "b" * 64, "name": "grafana", "host_ports": [20005], "llmfleet": False},
    ]
    assert problems(fleet, f) == [
        "b200-1: port 8000 (HTTP port of llmfleet-deepseek) is taken by nginx (pid 4242) on 0.0.0.0; nginx "
        "(pid 4242) on ::; stop that, or move serve_port / serve_dist_port (this host's instances claim 8000-8001)",
        "h100-1: port 20005 (distributed port (dist_port 20000 + 5) of llmfleet-deepseek) is taken by container "
        "grafana (publishes it); stop that, or move serve_port / serve_dist_port (this host's instances claim "
        "8000,20000-20009)",
    ]


def test_cells_one_head_complete_ranks_same_gpus_and_every_worker_reaches_the_head():
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet)
    f["h100-2"]["gpus"] = samples.gpus("H100", 4, driver="575.57.08", cuda="12.9")
    f["h100-2"]["connect"] = {
        "host": "10.0.0.21",
        "port": 20000,
        "connected": False,
        "error": "connection refused (ECONNREFUSED)",
        "attempts": 80,
        "seconds": 20.0,
    }
    assert problems(fleet, f) == [
        "cell pair: the hosts report different drivers now: 575.57.08 on h100-2; 580.159.04 on h100-1; every rank "
        "needs the same GPU model and driver: align them, or re-plan with the hosts in separate cells",
        "h100-2: cannot open a TCP connection to the head h100-1 of cell pair at 10.0.0.21:20000 (connection "
        "refused (ECONNREFUSED), 80 attempts in 20.0 s); open TCP 20000-20009 from h100-2 to h100-1 (firewall, "
        "security group), or give h100-1 an address the workers route to (its ansible_host / fleet address), and "
        "check serve_fabric_interface",
    ]
    del f["h100-1"]  # the head outside the play (--limit): said so
    f["h100-2"]["gpus"] = samples.gpus("H100", 4)
    assert problems(fleet, f)[-1].endswith(
        "(connection refused (ECONNREFUSED), 80 attempts in 20.0 s); the head is not in this play, so no probe "
        "listened there: run preflight with the whole cell; open TCP 20000-20009 from h100-2 to h100-1 (firewall, "
        "security group), or give h100-1 an address the workers route to (its ansible_host / fleet address), and "
        "check serve_fabric_interface"
    )


def dist_port_holder(container, process="python3", pid=99):
    """A listener on the pair cell's dist port (20000) on its head, as host_preflight reports it."""
    return {
        "port": 20000,
        "address": "0.0.0.0",
        "family": "ipv4",
        "pid": pid,
        "process": process,
        "container": container,
    }


def test_a_running_cell_is_not_probed_and_its_reach_is_taken_from_the_running_cell():
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet)
    # A re-run: our head engine (the serve role's label, the plan's name for the cell's engine) holds the dist
    # port, so the playbook neither listened on the head nor connected from the worker.
    f["h100-1"]["gather"]["listeners"] = [dist_port_holder("llmfleet-deepseek")]
    f["h100-1"]["gather"]["containers"] = [
        {"id": "a" * 64, "name": "llmfleet-deepseek", "host_ports": [], "llmfleet": True}
    ]
    f["h100-2"]["connect"] = None
    assert preflight_running_cell(fleet, "pair", f["h100-1"]["gather"]) == "llmfleet-deepseek"
    assert problems(fleet, f) == []
    # The other hosts of that fleet are still judged (a foreign holder on the standalone host).
    f["b200-1"]["gather"]["listeners"] = [dict(dist_port_holder(None, "nginx", 4242), port=8000)]
    assert [line.split(":")[0] for line in problems(fleet, f)] == ["b200-1"]


@pytest.mark.parametrize(
    "holder, container, port_problem",
    [
        # A process outside any container.
        (dist_port_holder(None, "redis-server", 4242), None, "redis-server (pid 4242) on 0.0.0.0"),
        (
            dist_port_holder("grafana"),
            {"id": "b" * 64, "name": "grafana", "host_ports": [], "llmfleet": False},
            "container grafana (python3, pid 99) on 0.0.0.0",
        ),
        # Our label, but not the plan's engine of this cell: not the running cell, so not taken as its proof (and,
        # as before, not a port problem: the serve role replaces its own containers).
        (
            dist_port_holder("llmfleet-old"),
            {"id": "c" * 64, "name": "llmfleet-old", "host_ports": [], "llmfleet": True},
            None,
        ),
    ],
    ids=["process", "foreign-container", "another-llmfleet-container"],
)
def test_a_dist_port_held_by_anything_else_still_needs_the_workers_connect(holder, container, port_problem):
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet)
    f["h100-1"]["gather"]["listeners"] = [holder]
    f["h100-1"]["gather"]["containers"] = [container] if container else []
    assert preflight_running_cell(fleet, "pair", f["h100-1"]["gather"]) == ""
    assert problems(fleet, f) == (
        [
            "h100-1: port 20000 (distributed port (dist_port 20000 + 0) of llmfleet-deepseek) is taken by %s; stop "
            "that, or move serve_port / serve_dist_port (this host's instances claim 8000,20000-20009)" % port_problem
        ]
        if port_problem
        else []
    )
    # Not probed (e.g. the head's listener did not run): the worker's reach is unproven, as today.
    f["h100-2"]["connect"] = None
    assert problems(fleet, f)[-1] == (
        "h100-2: the connection to the head h100-1 of cell pair was not tried; run preflight with the whole cell in "
        "the play"
    )
    f["h100-2"]["connect"] = {
        "host": "10.0.0.21",
        "port": 20000,
        "connected": False,
        "error": "timed out",
        "attempts": 4,
        "seconds": 20.0,
    }
    assert problems(fleet, f)[-1].startswith(
        "h100-2: cannot open a TCP connection to the head h100-1 of cell pair at 10.0.0.21:20000 (timed out, "
    )


def test_a_running_cell_needs_its_head_in_the_play():
    fleet = fleet_b200_and_h100_cell()
    f = findings_for(fleet, h100_2={"connect": None})
    del f["h100-1"]  # --limit h100-2: no gather from the head, so nothing shows the cell runs
    assert preflight_running_cell(fleet, "pair", {}) == ""
    assert problems(fleet, f) == [
        "h100-2: the connection to the head h100-1 of cell pair was not tried; run preflight with the whole cell in "
        "the play"
    ]
    assert preflight_running_cell(fleet, "", {}) == ""


def test_a_cell_plan_edited_into_two_heads_and_a_missing_rank():
    fleet = fleet_b200_and_h100_cell()
    broken = copy.deepcopy(fleet)
    broken["hosts"]["h100-2"]["instances"][0]["role"] = "head"
    broken["cells"]["pair"]["hosts"].append("h100-3")
    lines = problems(broken, findings_for(fleet))
    assert lines[:2] == [
        "cell pair: heads on h100-1, h100-2; exactly one host is the head (serve_node_rank 0): re-plan with "
        "llmfleet.serving.fleet_plan",
        "cell pair: ranks missing on h100-3; the plan's ranks must be complete (h100-1, h100-2, h100-3): re-plan "
        "with llmfleet.serving.fleet_plan",
    ]


def test_the_filter_names_what_it_needs():
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="the fleet must be llmfleet.serving.fleet_plan's 'fleet'"):
        preflight_problems({"endpoints": []}, {})
    with pytest.raises(AnsibleFilterError, match="disk_headroom_gb 'lots' must be a number of GB"):
        preflight_problems(fleet_b200_and_h100_cell(), {}, "lots")


def test_a_read_made_before_the_plan_gives_the_plans_part_or_nothing():
    from ansible_collections.llmfleet.serving.plugins.filter.preflight import preflight_gathered

    fleet = fleet_b200_and_h100_cell()
    model = fleet["hosts"]["b200-1"]["instances"][0]["model_id"]
    nginx = {"port": 8000, "address": "0.0.0.0", "family": "ipv4", "pid": 4242, "process": "nginx", "container": None}
    sshd = {"port": 22, "address": "0.0.0.0", "family": "ipv4", "pid": 1, "process": "sshd", "container": None}
    # What playbooks/preflight.yml reads before planning: every listener, every model in the weights directory.
    wide = gathered(
        models=[{"model_id": "other/model", "present": True}, {"model_id": model, "present": True, "bytes": 5}],
        listeners=[sshd, nginx],
    )
    part = preflight_gathered(wide, fleet, "b200-1", "docker")
    assert part["listeners"] == [nginx]
    assert part["weights"][0]["models"] == [{"model_id": model, "present": True, "bytes": 5}]
    assert (part["runtime"], part["toolkit"], part["containers"]) == (wide["runtime"], wide["toolkit"], [])
    # The verdict sees what a read for the plan gives: the same problem lines.
    narrow = dict(wide, listeners=[nginx], weights=[dict(wide["weights"][0], models=part["weights"][0]["models"])])
    findings = findings_for(fleet)
    findings["b200-1"]["gather"] = part
    lines = problems(fleet, findings)
    findings["b200-1"]["gather"] = narrow
    assert lines == problems(fleet, findings) and lines[0].startswith("b200-1: port 8000 (HTTP port of ")
    # Not covered, so the role reads the host itself: another runtime, a model not in the cache, another directory.
    assert preflight_gathered(wide, fleet, "b200-1", "podman") == {}
    assert preflight_gathered(gathered(models=[{"model_id": "other/model"}]), fleet, "b200-1", "docker") == {}
    elsewhere = gathered(models=[{"model_id": model}])
    elsewhere["weights"][0]["dir"] = "/srv/hf"
    assert preflight_gathered(elsewhere, fleet, "b200-1", "docker") == {}
    assert preflight_gathered({"skipped": True}, fleet, "b200-1", "docker") == {}
    # The role's own read, when it made one, is the finding as it is.
    own = gathered(listeners=[sshd])
    assert preflight_gathered(wide, fleet, "b200-1", "docker", own) is own
    assert preflight_gathered({}, fleet, "b200-1", None, {"skipped": True}) == {}
