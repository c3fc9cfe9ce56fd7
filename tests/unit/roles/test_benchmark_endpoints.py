"""The benchmark role measures every endpoint of a host: two packed replicas (two emulators on two ports, as the
serve role leaves them in llmfleet_plans) are benchmarked one after the other, each with its own result file,
labels, regression baseline and entry in the local fact; a cell worker on the same host is not measured;
benchmark_endpoints limits the run and refuses a name the host does not serve; the engine driver execs into each
instance's own container."""

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest
from helpers.paths import ROOT
from helpers.playbook import find_task, run_playbook, task_result
from helpers.verify_server import start_emulator

pytestmark = pytest.mark.slow

# A small workload: these tests check the role's plumbing, not the emulator's speed.
WORKLOAD = {
    "benchmark_input_len": 64,
    "benchmark_output_len": 8,
    "benchmark_num_prompts": 4,
    "benchmark_max_concurrency": 2,
    "benchmark_num_warmups": 0,
    "benchmark_progress_interval": 1,
}
NAMES = ["llmfleet-deepseek", "llmfleet-deepseek-1"]  # a packed host's replicas 0 and 1 (replica_name)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two emulators: the host's two packed replicas."""
    logs = tmp_path_factory.mktemp("emulators")
    emus = []
    try:
        for _name in NAMES:
            emus.append(start_emulator(logs, ["vllm", "serve", "--model", "m", "--served-model-name", "deepseek"]))
        yield emus
    finally:
        for emu in emus:
            emu.stop()


def plans(emus):
    """llmfleet_plans as the serve role leaves it for 8 GPUs at TP 4, plus a cell worker that serves no HTTP."""
    out = {}
    for index, (name, emu) in enumerate(zip(NAMES, emus)):
        out[name] = {
            "name": name,
            "index": index,
            "container": {"name": name},
            "port": emu.port,
            "gpu_ids": [4 * index + i for i in range(4)],
            "serves_http": True,
            "role": "standalone",
            "served_model_name": "deepseek",
            "model_id": "m",
            "engine": "vllm",
            "image": "vllm/vllm-openai:test",
            "hash": "hash-%d" % index,
        }
    out["llmfleet-deepseek-worker"] = dict(
        out[NAMES[0]],
        name="llmfleet-deepseek-worker",
        container={"name": "llmfleet-deepseek-worker"},
        port=1,
        serves_http=False,
        role="worker",
        index=2,
    )
    return out


def run_benchmark(tmp_path, emus, host_vars, *extra, env=None, path=()):
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        # The host's first instance's plan (llmfleet_plan) and every instance's (llmfleet_plans), as serve leaves them.
        "llmfleet_plan": plans(emus)[NAMES[0]],
        "llmfleet_plans": plans(emus),
        "benchmark_load_generator": "node1",
        "benchmark_fact_dir": str(tmp_path / "facts"),
        "benchmark_textfile_dir": str(tmp_path / "textfiles"),
        "benchmark_results_dir": str(tmp_path / "results"),
    }
    host.update(WORKLOAD)
    host.update(host_vars)
    inventory = {"all": {"children": {"llmfleet_serving": {"hosts": {"node1": host}}}}}
    return run_playbook("playbooks/benchmark.yml", inventory, *extra, workdir=tmp_path, env=env, path=path, timeout=300)


def stored_fact(tmp_path):
    return json.loads((tmp_path / "facts" / "llmfleet_benchmark.fact").read_text())


def published(out):
    """The llmfleet_benchmark fact the role published last (the play's copy of the local fact)."""
    tasks = [
        t for t in out["plays"][0]["tasks"] if t["task"]["name"].endswith("Publish the result for the fleet summary")
    ]
    return tasks[-1]["hosts"]["node1"]["ansible_facts"]


def test_every_endpoint_is_benchmarked_with_its_own_result_and_baseline(tmp_path, replicas):
    # What the role stored before results were kept per instance: one result at the top level (the first
    # instance's), and the textfile of a replica the host no longer runs.
    (tmp_path / "facts").mkdir()
    (tmp_path / "facts" / "llmfleet_benchmark.fact").write_text(
        json.dumps({"host": "node1", "target": "host", "output_throughput": 123.5, "p99_ttft_ms": 50.0})
    )
    (tmp_path / "textfiles").mkdir()
    (tmp_path / "textfiles" / "llmfleet_benchmark-llmfleet-deepseek-5.prom").write_text("# old replica\n")
    proc, out = run_benchmark(tmp_path, replicas, {"benchmark_regression_threshold_pct": 1000})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # The old top-level result is the first instance's baseline; the second has none yet.
    first, second = [
        t["hosts"]["node1"]["regression"]
        for t in out["plays"][0]["tasks"]
        if "Run the benchmark from the load generator" in t["task"]["name"]
    ]
    assert {d["metric"]: d["previous"] for d in first["details"]}["output_throughput"] == 123.5
    assert second["checked"] is False and "no previous result" in second["message"]
    assert not (tmp_path / "textfiles" / "llmfleet_benchmark-llmfleet-deepseek-5.prom").exists()

    # One result file per instance, named after it; none for the cell worker.
    files = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert len(files) == 2, files
    # node1-<instance>-<UTC time>.json: replica 0's name has no suffix, so its time follows the name directly.
    assert sorted(re.sub(r"-\d{8}T\d{6}Z\.json$", "", f) for f in files) == ["node1-" + n for n in NAMES]

    fact = stored_fact(tmp_path)
    instances = fact["instances"]
    assert sorted(instances) == NAMES
    for index, (name, emu) in enumerate(zip(NAMES, replicas)):
        result = instances[name]
        # Each measured its own port with the whole workload, labelled with its instance, port and GPUs.
        assert result["instance"] == name
        assert result["port"] == str(emu.port)
        assert result["gpu_ids"] == ",".join(str(4 * index + i) for i in range(4))
        assert result["plan_hash"] == "hash-%d" % index
        assert result["completed"] == 4 and result["failed"] == 0 and result["valid"] is True
        saved = json.loads(next((tmp_path / "results").glob("node1-%s-*.json" % name)).read_text())
        assert saved["completed"] == 4
    # The top level stays the first instance's result: what readers of one result per host read.
    top = {k: v for k, v in fact.items() if k != "instances"}
    assert top == instances[NAMES[0]]
    assert published(out)["llmfleet_benchmark"] == fact
    assert [r["instance"] for r in published(out)["llmfleet_benchmark_endpoints"]] == NAMES

    # One textfile per instance: the first keeps the single-instance name.
    first_prom = (tmp_path / "textfiles" / "llmfleet_benchmark.prom").read_text()
    second_prom = (tmp_path / "textfiles" / "llmfleet_benchmark-llmfleet-deepseek-1.prom").read_text()
    assert 'instance="llmfleet-deepseek"' in first_prom and 'port="%d"' % replicas[0].port in first_prom
    assert 'instance="llmfleet-deepseek-1"' in second_prom and 'gpu_ids="4,5,6,7"' in second_prom

    # The fleet table has one row per endpoint, with its instance and port.
    table = task_result(out, "Fleet benchmark summary", play=1)["msg"]
    rows = [line for line in table if line.startswith("node1")]
    assert len(rows) == 2
    assert "llmfleet-deepseek " in rows[0] and str(replicas[0].port) in rows[0]
    assert "llmfleet-deepseek-1" in rows[1] and str(replicas[1].port) in rows[1]

    # benchmark_endpoints limits a second run to the second replica; its regression gate compares with the
    # second replica's own previous result, and the first replica's stored result is kept as it was.
    proc, out = run_benchmark(
        tmp_path,
        replicas,
        {"benchmark_endpoints": ["llmfleet-deepseek-1"], "benchmark_regression_threshold_pct": 1000},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    runs = find_task(out, "Run the benchmark from the load generator")["hosts"]
    assert len(runs) == 1
    run = runs["node1"]
    assert run["invocation"]["module_args"]["base_url"] == "http://127.0.0.1:%d" % replicas[1].port
    previous = {d["metric"]: d["previous"] for d in run["regression"]["details"]}
    assert previous["output_throughput"] == instances[NAMES[1]]["output_throughput"]
    assert previous["output_throughput"] != instances[NAMES[0]]["output_throughput"]
    again = stored_fact(tmp_path)
    assert again["instances"][NAMES[0]] == instances[NAMES[0]]
    assert again["instances"][NAMES[1]]["time"] != instances[NAMES[1]]["time"]
    assert len(list((tmp_path / "results").glob("node1-llmfleet-deepseek-1-*.json"))) >= 1
    assert len(list((tmp_path / "results").glob("node1-llmfleet-deepseek-2*.json"))) == 1  # replica 0: name, then time


def test_an_unknown_benchmark_endpoint_is_refused_naming_it(tmp_path, replicas):
    proc, out = run_benchmark(
        tmp_path, replicas, {"benchmark_endpoints": ["llmfleet-deepseek-1", "llmfleet-deepseek-7"]}
    )
    assert proc.returncode != 0
    msg = task_result(out, "Check benchmark_endpoints")["msg"]
    assert msg.startswith("benchmark_endpoints names llmfleet-deepseek-7, which node1 does not serve")
    # The host's endpoints are named (never the cell worker, which serves none) and nothing was measured.
    assert "its endpoints are: llmfleet-deepseek, llmfleet-deepseek-1." in msg
    assert "worker" not in msg
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "value, named",
    [
        # None of the host's names: before, the host was taken for a cell worker and silently not measured.
        pytest.param(["llmfleet-deepseek-7"], ["llmfleet-deepseek-7"], id="only-unknown-names"),
        pytest.param("yes please", ["yes please"], id="a-word"),
        # The argument spec reads a lone number or boolean as a one-element list; the role used to fail on it
        # with "'int' object is not iterable".
        pytest.param(3, ["3"], id="a-number"),
        pytest.param(True, ["True"], id="a-boolean"),
        # A line break is shown escaped: the message stays one line.
        pytest.param(
            ["llmfleet-deepseek-1\n[x]", "$(id)"], ["llmfleet-deepseek-1\\n[x]", "$(id)"], id="newline-and-shell"
        ),
    ],
)
def test_a_benchmark_endpoints_that_names_no_instance_of_the_host_is_refused(tmp_path, replicas, value, named):
    proc, out = run_benchmark(tmp_path, replicas, {"benchmark_endpoints": value})
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
    msg = task_result(out, "Check benchmark_endpoints")["msg"]
    head, sep, _rest = msg.partition(", which node1 does not serve; ")
    assert sep and head.startswith("benchmark_endpoints names "), msg
    assert sorted(head[len("benchmark_endpoints names ") :].split(", ")) == sorted(named), msg
    assert "its endpoints are: llmfleet-deepseek, llmfleet-deepseek-1." in msg and "\n" not in msg
    assert not [t for t in out["plays"][0]["tasks"] if "cell worker" in t["task"]["name"] and not _skipped(t)]
    assert not (tmp_path / "results").exists()


def _skipped(task):
    return all(r.get("skipped") for r in task["hosts"].values())


def test_a_cell_worker_is_not_measured_even_with_benchmark_endpoints(tmp_path, replicas):
    worker = plans(replicas)["llmfleet-deepseek-worker"]
    proc, out = run_benchmark(
        tmp_path,
        replicas,
        {
            "llmfleet_plan": worker,
            "llmfleet_plans": {worker["name"]: worker},
            "benchmark_endpoints": ["llmfleet-deepseek"],
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "serves no endpoint" in task_result(out, "Say that a cell worker")["msg"]
    assert not (tmp_path / "results").exists()


def test_benchmark_endpoints_with_the_router_target_is_refused(tmp_path, replicas):
    proc, out = run_benchmark(
        tmp_path,
        replicas,
        {
            "benchmark_endpoints": ["llmfleet-deepseek-1"],
            "benchmark_target": "router",
            "benchmark_router_url": "http://127.0.0.1:%d" % replicas[0].port,
        },
    )
    assert proc.returncode != 0
    msg = task_result(out, "Check benchmark_endpoints")["msg"]
    assert msg.startswith(
        'benchmark_endpoints ["llmfleet-deepseek-1"] picks instances of the host, but benchmark_target is router'
    )


FAKE_DOCKER = r'''#!{python}
# TEST DOUBLE for `docker exec`: logs which container each call went to, and runs the command here, with the
# container's /tmp/llmfleet-benchmark.json kept apart per container name.
import json, os, sys
args = sys.argv[1:]
assert args[0] == "exec", args
args = args[1:]
if args[0] == "-i":
    args = args[1:]
name, cmd = args[0], args[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps([name] + cmd) + "\n")
result = os.path.join(os.environ["FAKE_DOCKER_DIR"], name + ".json")
if cmd[:2] == ["sh", "-c"]:
    os.execvp("sh", ["sh", "-c", cmd[2].replace("/tmp/llmfleet-benchmark.json", result)])
elif cmd == ["cat", "/tmp/llmfleet-benchmark.json"]:
    sys.stdout.write(open(result).read())
else:
    sys.exit("fake docker: unexpected command %r" % cmd)
'''

# TEST DOUBLE for the container's `vllm`: `vllm bench serve ...` runs the collection's client with the same flags,
# as the testbed's engine stand-in does.
FAKE_VLLM = '''#!/bin/sh
[ "$1" = bench ] || exit 64
shift
exec "{python}" -m llmfleet_bench "$@"
'''


def test_the_engine_driver_runs_in_each_instance_s_own_container(tmp_path, replicas):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("vllm", FAKE_VLLM)):
        script = bin_dir / name
        script.write_text(text.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "docker.log"
    env = {
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_DOCKER_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "extensions" / "bench"), os.environ.get("PYTHONPATH", "")]),
    }
    proc, out = run_benchmark(
        tmp_path,
        replicas,
        {"benchmark_driver": "engine", "llmfleet_serve": {"container_cli": "docker", "container": NAMES[0]}},
        env=env,
        path=[bin_dir],
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    # Each instance: its benchmark, then its result file, both in its own container, against its own port.
    assert [(c[0], c[1]) for c in calls] == [(NAMES[0], "sh"), (NAMES[0], "cat"), (NAMES[1], "sh"), (NAMES[1], "cat")]
    for name, emu in zip(NAMES, replicas):
        bench = next(c for c in calls if c[0] == name and c[1] == "sh")[3]
        assert "--base-url http://127.0.0.1:%d " % emu.port in bench
    fact = stored_fact(tmp_path)
    for name in NAMES:
        assert fact["instances"][name]["bench_driver"] == "engine"
        assert fact["instances"][name]["instance"] == name
        assert fact["instances"][name]["completed"] == 4
    # The engine driver writes no result file on the load generator.
    assert not (tmp_path / "results").exists()
    assert Path(tmp_path / "llmfleet-deepseek-1.json").exists()


@pytest.mark.parametrize("driver", ["client", "engine"])
def test_check_mode_sends_no_load_and_stores_nothing(tmp_path, replicas, driver):
    # `--check` on a fleet in service: a benchmark would load the servers, so none runs; each endpoint is named
    # in a line that says so, and no result, fact or textfile is written.
    proc, out = run_benchmark(tmp_path, replicas, {"benchmark_driver": driver}, "--check")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    said = [
        r["msg"]
        for t in out["plays"][0]["tasks"]
        if t["task"]["name"].endswith("Say that check mode runs no benchmark")
        for r in t["hosts"].values()
        if not r.get("skipped")
    ]
    assert len(said) == len(NAMES), said
    for name, msg in zip(NAMES, said):
        assert msg.startswith("check mode: %s on http://" % name) and "was not benchmarked" in msg, msg
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "facts" / "llmfleet_benchmark.fact").exists()
    assert not list((tmp_path / "textfiles").glob("*.prom"))
