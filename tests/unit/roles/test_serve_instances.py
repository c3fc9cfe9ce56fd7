"""The serve role on a host with several instances (issue 11 item 5): what each unit runs, and which recorded
instances a run removes.

The units are rendered by the role's own templates (unit_render) from the fleet planner's instances: two packed
vLLM replicas on 8 x B200 at TP 4 must each own their own GPUs and port in both runtimes, and a cell worker shares
the host network and publishes nothing. The removal is the role itself, in check mode on this machine (the GPU
test double, test_serve_role_inputs.run_role): from a recorded set of replicas, a shrink replaces exactly the ones
no longer planned.
"""

import json
import re
import shlex

import pytest
from helpers import gpu_fact_samples as samples
from helpers.serve_role import run_role
from helpers.unit_render import render

from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

pytestmark = pytest.mark.slow


def _instances(gpus, **kw):
    entry = {"gpus": gpus, "address": "10.0.0.1"}
    entry.update(kw)
    return plan_fleet({"h1": entry})["hosts"]["h1"]["instances"]


def _exec_argv(unit):
    """The docker run argv of a rendered service unit (its ExecStart continuation lines)."""
    lines = unit.split("\nExecStart=", 1)[1].split("\n")
    text = []
    for line in lines:
        text.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(text))


def _option_values(argv, option):
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == option]


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    replicas = _instances(samples.b200x8(), choices={"engine": "vllm", "tensor_parallel_size": 4})
    assert len(replicas) == 2
    cases = {}
    for runtime in ("docker", "podman"):
        for plan in replicas:
            cases["%s-%s" % (runtime, plan["name"])] = {"serve_runtime": runtime, "llmfleet_plan": plan}
    return replicas, render(cases, tmp_path_factory.mktemp("packed"))


def test_two_packed_docker_replicas_run_on_their_own_gpus_and_ports(packed):
    replicas, rendered = packed
    seen = []
    for plan in replicas:
        argv = _exec_argv(rendered["docker-" + plan["name"]]["unit"])
        # docker takes the device list with the double quotes inside the value.
        gpus = _option_values(argv, "--gpus")
        ports = _option_values(argv, "-p")
        names = _option_values(argv, "--name")
        seen.append((names, gpus, ports))
        assert gpus == ['"device=%s"' % ",".join(str(i) for i in plan["gpu_ids"])]
    (names0, gpus0, ports0), (names1, gpus1, ports1) = seen
    assert gpus0 == ['"device=0,1,2,3"'] and gpus1 == ['"device=4,5,6,7"']
    assert names0 != names1 and ports0 != ports1
    assert (
        rendered["docker-" + replicas[0]["name"]]["keys"]["unit"]
        != rendered["docker-" + replicas[1]["name"]]["keys"]["unit"]
    )


def test_two_packed_podman_replicas_add_only_their_own_gpus(packed):
    replicas, rendered = packed
    devices, ports = [], []
    for plan in replicas:
        unit = rendered["podman-" + plan["name"]]["unit"]
        devices.append(re.findall(r"^AddDevice=(.*)$", unit, re.M))
        ports.append(re.findall(r"^PublishPort=(.*)$", unit, re.M))
        assert "nvidia.com/gpu=all" not in unit
    assert devices == [["nvidia.com/gpu=%d" % i for i in range(4)], ["nvidia.com/gpu=%d" % i for i in range(4, 8)]]
    assert ports[0] and ports[1] and set(ports[0]).isdisjoint(ports[1])


def test_a_cell_worker_shares_the_host_network_and_publishes_nothing(tmp_path):
    fleet = plan_fleet(
        {
            "h100-a": {"gpus": samples.gpus("H100", 4), "address": "10.0.1.1", "cell": "pair"},
            "h100-b": {"gpus": samples.gpus("H100", 4), "address": "10.0.1.2", "cell": "pair"},
        }
    )
    (worker,) = fleet["hosts"]["h100-b"]["instances"]
    assert worker["role"] == "worker" and not worker["serves_http"]
    rendered = render({rt: {"serve_runtime": rt, "llmfleet_plan": worker} for rt in ("docker", "podman")}, tmp_path)
    argv = _exec_argv(rendered["docker"]["unit"])
    assert _option_values(argv, "--network") == ["host"] and "-p" not in argv
    quadlet = rendered["podman"]["unit"]
    assert re.findall(r"^Network=(.*)$", quadlet, re.M) == ["host"]
    assert not re.findall(r"^PublishPort=", quadlet, re.M)


def _record(name, secrets):
    return {
        "container": name,
        "runtime": "docker",
        "secret_dir": "%s/%s" % (secrets, name),
        "unit": name + ".service",
        "unit_path": "/etc/systemd/system/%s.service" % name,
    }


def _replaced(out):
    """The instances the role's previous.yml says this run replaces (its report), by container name."""
    for task in out["plays"][0]["tasks"]:
        if task["task"]["name"].endswith("Report the instances this run replaces"):
            result = task["hosts"]["node1"]
            if result.get("skipped"):
                return []
            msg = result["msg"]
            listed = msg.split("this run replaces ", 1)[1].split(" (recorded in", 1)[0]
            return [json.loads(x)["container"] for x in re.findall(r"\{[^{}]*\}", listed)]
    raise AssertionError("the role did not reach previous.yml")


def _node1(replicas, tp):
    entry = {
        "gpus": samples.b200x8(),
        "address": "127.0.0.1",
        "choices": {"engine": "vllm", "tensor_parallel_size": tp},
    }
    if replicas is not None:
        entry["replicas_per_host"] = replicas
    return plan_fleet({"node1": entry})


def _run_over_recorded(tmp_path, names, fleet):
    """Run the role (check mode) planning ``fleet`` on a host whose llmfleet_serve.fact records ``names``."""
    facts = tmp_path / "facts"
    facts.mkdir()
    records = [_record(n, tmp_path / "secrets") for n in names]
    (facts / "llmfleet_serve.fact").write_text(json.dumps(dict(records[0], instances=records)))
    proc, out, _dirs = run_role(tmp_path, {"llmfleet_fleet": fleet})
    assert proc.returncode == 0, proc.stdout[-3000:]
    return _replaced(out)


@pytest.mark.parametrize(
    "tp, before, after, replaced",
    [
        (2, None, 4, []),
        (2, None, 2, ["llmfleet-deepseek-2", "llmfleet-deepseek-3"]),
        # One replica less removes exactly the last one; replica 0 keeps its name in every shrink.
        (4, None, 1, ["llmfleet-deepseek-1"]),
        (2, 3, 2, ["llmfleet-deepseek-2"]),
    ],
)
def test_a_shrink_replaces_exactly_the_instances_no_longer_planned(tmp_path, tp, before, after, replaced):
    # 8 x B200: the replicas recorded by an earlier run (auto: 4 at TP 2, 2 at TP 4); this run plans `after`.
    names = [i["name"] for i in _node1(before, tp)["hosts"]["node1"]["instances"]]
    assert names == ["llmfleet-deepseek"] + ["llmfleet-deepseek-%d" % i for i in range(1, before or 8 // tp)]
    assert _run_over_recorded(tmp_path, names, _node1(after, tp)) == replaced


def test_an_upgrade_replaces_the_old_name_of_replica_0(tmp_path):
    # Releases before replica_name called replica 0 of a packed host NAME-0: that instance is no longer planned,
    # so the role removes it (unit, container, secrets, fact entry) and starts NAME on the same GPUs and port.
    # Replica 1 keeps its name (and runs on: its plan did not change).
    fleet = _node1(None, 4)
    assert [i["name"] for i in fleet["hosts"]["node1"]["instances"]] == ["llmfleet-deepseek", "llmfleet-deepseek-1"]
    assert _run_over_recorded(tmp_path, ["llmfleet-deepseek-0", "llmfleet-deepseek-1"], fleet) == [
        "llmfleet-deepseek-0"
    ]


def test_each_instance_shows_what_the_new_plan_changes_in_it(tmp_path):
    fleet = plan_fleet(
        {
            "node1": {
                "gpus": samples.b200x8(),
                "address": "127.0.0.1",
                "replicas_per_host": 2,
                "choices": {"engine": "vllm", "tensor_parallel_size": 2},
            }
        }
    )
    first, second = fleet["hosts"]["node1"]["instances"]
    # The running first replica came from a TP 4 plan; the second runs what is planned.
    running_first = dict(first, tensor_parallel_size=4, hash="0" * 64)
    facts = tmp_path / "facts"
    facts.mkdir()
    (facts / "llmfleet_plans.fact").write_text(json.dumps({first["name"]: running_first, second["name"]: second}))
    proc, out, _dirs = run_role(tmp_path, {"llmfleet_fleet": fleet})
    assert proc.returncode == 0, proc.stdout[-3000:]
    shown = [
        task["hosts"]["node1"]["msg"]
        for task in out["plays"][0]["tasks"]
        if "Show what the new plan changes" in task["task"]["name"] and not task["hosts"]["node1"].get("skipped")
    ]
    assert shown == [["tensor_parallel_size: 4 -> 2"]]


def test_a_named_second_server_checks_the_recorded_instance_by_its_own_name(tmp_path):
    # validate.yml keeps serve_container_name as a fact; the recorded-instance check must not read that name.
    facts = tmp_path / "facts"
    facts.mkdir()
    record = _record("llmfleet-deepseek", tmp_path / "secrets")
    (facts / "llmfleet_serve.fact").write_text(json.dumps(dict(record, instances=[record])))
    proc, out, _dirs = run_role(tmp_path, {"serve_container_name": "llmfleet-second", "serve_port": 8200})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert _replaced(out) == ["llmfleet-deepseek"]
