"""The container options in one place (plugins/module_utils/_container_args.py, the container_options filter):
the plan's docker_run, the docker unit and the podman quadlet all take them from there, and moving them
there changes nothing a running fleet would notice.

A plan matrix (helpers/unit_cases.plan_matrix: single-host plans, packed replicas with GPU sets, cell heads
and workers, vLLM and SGLang) x docker/podman x without/with secrets:
1. every plan hash and docker_run is what the planner gave before (tests/fixtures/container_options/
   plans_before.json, generated once from main at e146f0a): no rollout sees a changed plan;
2. the unit and quadlet are byte-identical to what the templates before the change render
   (tests/fixtures/container_options/*.j2, main's templates at e146f0a, rendered now with the same plans):
   a changed unit would restart every server after an upgrade;
3. the stop timeout of both runtimes comes from the plan's stop_timeout_s, and a plan recorded before
   that key existed (rollout_rollback re-renders it) renders as it did;
4. podman's quadlet generator (the podman-host test image) accepts every quadlet of the matrix and passes
   the stop timeout to podman run; systemd-analyze verify accepts every docker unit.
"""

import json
import shutil
import subprocess

import pytest
from helpers import unit_cases, unit_render
from helpers.paths import FIXTURES
from helpers.testbed import PODMAN_HOST_IMAGE, quadlet_generator, require_docker

from ansible_collections.llmfleet.serving.plugins.filter.container_options import container_options
from ansible_collections.llmfleet.serving.plugins.module_utils._container_args import stop_timeouts
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import HASHED_KEYS, plan_hash

BEFORE = FIXTURES / "container_options"
MATRIX = unit_cases.plan_matrix()
CASES = unit_cases.matrix_cases(MATRIX)
# Plans as an older release recorded them in the local facts (no stop_timeout_s), and plans with another value.
OLD_PLAN_CASES = {
    "old-" + name: dict(case, llmfleet_plan={k: v for k, v in case["llmfleet_plan"].items() if k != "stop_timeout_s"})
    for name, case in CASES.items()
    if name.startswith(("single-vllm-b200", "packed-sglang-h200-1", "cell-vllm-worker"))
}
LONG_STOP_CASES = {
    "stop120-" + name: dict(case, llmfleet_plan=dict(case["llmfleet_plan"], stop_timeout_s=120))
    for name, case in CASES.items()
    if name.startswith(("single-sglang-h100", "packed-vllm-b200-1"))
}


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """{"before": main's templates on the matrix, "after": this tree's templates on the matrix and the extra cases}."""
    role_before = tmp_path_factory.mktemp("role") / "serve"
    shutil.copytree(unit_render.ROLE, role_before)
    for template in ("llmfleet-engine.service.j2", "llmfleet-engine.container.j2"):
        shutil.copyfile(BEFORE / template, role_before / "templates" / template)
    before = unit_render.render(CASES, tmp_path_factory.mktemp("before"), role_dir=role_before)
    after = unit_render.render(
        dict(CASES, **OLD_PLAN_CASES, **LONG_STOP_CASES),
        tmp_path_factory.mktemp("after"),
        action_hosts=sorted(CASES)[:2],
    )
    return {"before": before, "after": after}


# --- 1. plans -----------------------------------------------------------------------------------------------


def test_the_matrix_covers_single_packed_and_cell_plans_of_both_engines():
    plans = MATRIX.values()
    assert {p["engine"] for p in plans} == {"vllm", "sglang"}
    assert any(p["container"]["gpus"] == "all" and p["container"]["ports"] for p in plans)
    assert any(p["container"].get("gpu_ids") for p in plans)
    assert {p.get("role") for p in plans} >= {"head", "worker"}
    assert any(p["container"].get("network") == "host" for p in plans)
    assert any(p["container"]["shm_size"] for p in plans)


# Replica 0 of a packed host was NAME-0 when the fixture was made; it is NAME now (replica_name, issue 11). Its
# hash moves with the name, the one hashed key that changed: with the old name back, the hash is the fixture's.
RENAMED_REPLICA_0 = {"packed-vllm-b200-0": "llmfleet-deepseek-0", "packed-sglang-h200-0": "llmfleet-deepseek-0"}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_plan_hash_and_docker_run_are_what_the_planner_gave_before(name):
    before = json.loads((BEFORE / "plans_before.json").read_text())
    assert set(before) == set(MATRIX)
    plan = MATRIX[name]
    if name in RENAMED_REPLICA_0:
        assert plan["container"]["name"] == "llmfleet-deepseek"
        assert plan["hash"] != before[name]["hash"]
        old_named = dict(plan, container=dict(plan["container"], name=RENAMED_REPLICA_0[name]))
        assert plan_hash(old_named) == before[name]["hash"]
    else:
        assert plan["hash"] == before[name]["hash"]
    assert plan_hash(plan) == plan["hash"]
    assert plan["docker_run"] == before[name]["docker_run"]


def test_the_stop_timeout_is_in_the_plan_but_not_in_its_hash():
    plan = MATRIX["single-vllm-b200"]
    assert plan["stop_timeout_s"] == 60 and "stop_timeout_s" not in HASHED_KEYS
    assert plan_hash(dict(plan, stop_timeout_s=120)) == plan["hash"]


def test_a_plan_without_stop_timeout_gets_the_stop_timeouts_every_release_used():
    assert stop_timeouts({}) == (60, 90)
    assert stop_timeouts({"stop_timeout_s": 120}) == (120, 150)


def test_the_filter_names_what_the_plan_lacks():
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="plan must be a dictionary"):
        container_options("not a plan")
    with pytest.raises(AnsibleFilterError, match="the plan lacks 'container'"):
        container_options({"image": "x"})


def test_the_unit_options_and_the_quadlet_keys_hold_the_same_values():
    # One derivation for both runtimes: every value the docker unit passes has its quadlet key.
    plan = MATRIX["packed-sglang-h200-1"]
    opts = container_options(
        plan, hf_token=True, hf_token_file="/s/hf", api_key=True, env_file="/s/env", restart_key="rk"
    )
    run, quadlet = opts["run"], {(e["key"], e["value"]) for e in opts["quadlet"]}
    assert run[:4] == ["run", "--rm", "--name", "llmfleet-deepseek-1"]
    assert ("ContainerName", "llmfleet-deepseek-1") in quadlet
    assert run[run.index("--gpus") + 1] == '"device=4,5,6,7"'
    assert {("AddDevice", "nvidia.com/gpu=%d" % i) for i in (4, 5, 6, 7)} <= quadlet
    for flag, key in (("-p", "PublishPort"), ("-e", "Environment"), ("-v", "Volume"), ("--label", "Label")):
        values = [run[i + 1] for i, word in enumerate(run) if word == flag]
        assert values and {(key, v) for v in values} <= quadlet, flag
    # SGLang takes the key as an argument: no env file for either runtime.
    assert "--env-file" not in run and not [e for e in opts["quadlet"] if e["key"] == "EnvironmentFile"]
    assert ("PodmanArgs", "--stop-timeout=60") in quadlet and opts["stop_timeout"] == 60


# --- 2. rendered units: byte-identical ------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_unit_and_quadlet_are_byte_identical_to_the_templates_before(renders, case):
    before, after = renders["before"][case], renders["after"][case]
    assert "error" not in before and "error" not in after, (before.get("error"), after.get("error"))
    assert after["unit"] == before["unit"]
    assert after["keys"] == before["keys"]  # same restart key: no restart after the upgrade


def test_the_lookup_renders_what_the_template_action_writes(renders):
    got = [g for g in renders["after"].values() if "action" in g]
    assert len(got) == 2 and all(g["action"] == g["unit"] for g in got)


# --- 3. the stop timeout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(OLD_PLAN_CASES))
def test_a_plan_recorded_before_stop_timeout_s_renders_as_before(renders, case):
    assert renders["after"][case]["unit"] == renders["before"][case[len("old-") :]]["unit"]


@pytest.mark.parametrize("case", sorted(LONG_STOP_CASES))
def test_both_runtimes_take_the_stop_timeout_from_the_plan(renders, case):
    unit = renders["after"][case]["unit"]
    lines = unit.splitlines()
    assert "TimeoutStopSec=150" in lines and "TimeoutStopSec=90" not in lines
    if "docker" in case:
        (stop,) = [line for line in lines if line.startswith("ExecStop=")]
        assert stop.split()[1:3] == ["stop", "-t"] and stop.split()[3] == "120"
    else:
        assert "PodmanArgs=--stop-timeout=120" in lines and "PodmanArgs=--stop-timeout=60" not in lines
    # Only the stop timeout differs from the same plan at 60 s.
    base = renders["after"][case[len("stop120-") :]]["unit"]
    changed = [(a, b) for a, b in zip(base.splitlines(), lines) if a != b]
    assert len(base.splitlines()) == len(lines) and len(changed) == 2, changed


# --- 4. real parsers ----------------------------------------------------------------------------------------


def test_every_docker_unit_of_the_matrix_passes_systemd_analyze_verify(renders, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing: install systemd (make host-packages)")
    names = []
    for case in sorted(c for c in renders["after"] if "docker" in c):
        unit = "llmfleet-co-%s.service" % case
        (tmp_path / unit).write_text(renders["after"][case]["unit"])
        names.append(unit)
    proc = subprocess.run(
        ["systemd-analyze", "verify"] + names, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "llmfleet-co-" in line]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


@pytest.mark.docker
def test_podmans_quadlet_generator_accepts_every_quadlet_and_passes_the_stop_timeout(renders, tmp_path):
    require_docker(PODMAN_HOST_IMAGE)
    directory = tmp_path / "quadlets"
    directory.mkdir()
    cases = sorted(c for c in renders["after"] if "podman" in c)
    for i, case in enumerate(cases):
        (directory / ("co-%d.container" % i)).write_text(renders["after"][case]["unit"])
    services, stderr = quadlet_generator(directory)
    assert sorted(services) == sorted("co-%d" % i for i in range(len(cases))), stderr
    for i, case in enumerate(cases):
        service = services["co-%d" % i]
        stop = 120 if case.startswith("stop120-") else 60
        (start,) = [line for line in service.splitlines() if line.startswith("ExecStart=")]
        assert "--stop-timeout=%d" % stop in start.split(), (case, start)
        assert "TimeoutStopSec=%d" % (stop + 30) in service.splitlines(), case
