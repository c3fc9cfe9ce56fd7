"""The serve role's unit and quadlet templates, rendered by Ansible as the role renders them
(unit_render.py: one ansible-playbook run for all cases), then read back by REAL systemd.

1. Today's values give byte-identical files to the templates before the quoting filters
   (tests/fixtures/units, generated once from main's templates): no restart after an upgrade.
2. Hostile values (line breaks, [Service], ;, %, $, quotes, backslashes) in every field that
   reaches a unit: the units parse (systemd-analyze verify), one-line settings refuse control
   characters naming the field, and (docker marker) on a test host with systemd as PID 1 the unit
   runs exactly the intended argv and nothing else; the quadlet passes podman's generator.
"""

import json
import shutil
import subprocess
import uuid

import pytest
from helpers import unit_cases, unit_render
from helpers.testbed import HOST_IMAGE, quadlet_generator, require_docker, start_test_host
from helpers.testbed import docker as _docker

ROOT = unit_render.ROOT
FIXTURES = ROOT / "tests" / "fixtures" / "units"
SEED = unit_cases.seed_cases()
HOSTILE = unit_cases.hostile_cases()
REFUSED = unit_cases.refused_cases()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    cases = dict(SEED)
    cases.update({name: case for name, (case, _accepted) in HOSTILE.items()})
    cases.update({name: case for name, (case, _field) in REFUSED.items()})
    return unit_render.render(
        cases,
        tmp_path_factory.mktemp("render"),
        action_hosts=[
            "b200-vllm-docker-secrets",
            "h100-sglang-podman-secrets",
            "hostile-sglang-docker",
            "hostile-vllm-podman",
        ],
    )


# --- 1. today's values: byte-identical ---------------------------------------------------------


def test_fixtures_cover_every_seed_case():
    stems = {p.name.split(".")[0] for p in FIXTURES.iterdir() if p.suffix != ".md"}
    assert stems == set(SEED)


@pytest.mark.parametrize("case", sorted(SEED))
def test_unit_and_secret_files_are_byte_identical_to_the_templates_before(rendered, case):
    got = rendered[case]
    suffix = ".service" if SEED[case]["serve_runtime"] == "docker" else ".container"
    assert got["unit"] == (FIXTURES / (case + suffix)).read_text()
    for key, name in (("env", ".env"), ("hf_token", ".hf_token")):
        path = FIXTURES / (case + name)
        assert got.get(key) == (path.read_text() if path.exists() else None), key
    # The restart key hashes the plan and the secret files' content: unchanged, so no restart.
    assert got["keys"] == json.loads((FIXTURES / (case + ".keys.json")).read_text())


def test_the_lookup_renders_what_the_template_action_writes(rendered):
    for case, got in rendered.items():
        if "action" in got:
            assert got["action"] == got["unit"], case


# --- 2. hostile values --------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_line_break_in_a_one_line_value_is_refused_naming_the_field(rendered, case):
    _vars, field = REFUSED[case]
    got = rendered[case]
    assert "unit" not in got
    assert field in got["error"], got["error"]
    if "glob" in case:
        assert "glob pattern" in got["error"]
    else:
        assert "line break" in got["error"] or "control character" in got["error"]
    if field == "serve_api_key":
        assert "line1" not in got["error"]  # the secret is not shown


def test_hostile_values_went_through_the_planner_where_it_accepts_them():
    # The planner refuses control characters in every option (issue 9), so the hostile extra-args and env
    # values that hold a line break are put into the plan afterwards (the unit must hold any plan); the same
    # values without control characters (quotes, $, %, ;, backslash, [Service]) go through the real planner.
    from ansible_collections.llmfleet.serving.plugins.module_utils._plan import PlanError, build_plan

    for case, (_vars, accepted) in HOSTILE.items():
        assert not {"env", "extra_args"} & set(accepted), case
    for engine, gpus in (("vllm", unit_cases.samples.b200x8), ("sglang", unit_cases.samples.h100x8)):
        plan = build_plan(
            gpus=gpus(),
            engine=engine,
            env={"LLMFLEET_HOSTILE": unit_cases.HOSTILE_LINE},
            extra_args=["--chat-template", unit_cases.HOSTILE_LINE],
        )
        assert plan["env"]["LLMFLEET_HOSTILE"] == unit_cases.HOSTILE_LINE
        assert plan["command"][-2:] == ["--chat-template", unit_cases.HOSTILE_LINE]
        for option, value in (
            ("env", {"LLMFLEET_HOSTILE": unit_cases.HOSTILE}),
            ("extra_args", ["--chat-template", unit_cases.HOSTILE]),
        ):
            with pytest.raises(PlanError) as caught:
                build_plan(gpus=gpus(), engine=engine, **{option: value})
            assert caught.value.details["option"] == option and "control character" in str(caught.value)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_values_stay_inside_their_line(rendered, case):
    got = rendered[case]
    assert "error" not in got, got.get("error")
    lines = got["unit"].split("\n")
    # One [Service] header (docker) / the quadlet's four, none injected; no injected command line.
    headers = [line for line in lines if line.startswith("[")]
    assert headers == (
        ["[Unit]", "[Service]", "[Install]"]
        if "docker" in case
        else ["[Unit]", "[Container]", "[Service]", "[Install]"]
    )
    assert not [line for line in lines if line.startswith(("ExecStartPre=/bin", ";", " ;"))]
    assert unit_cases.HOSTILE_KEY not in got["unit"] and unit_cases.HOSTILE_TOKEN not in got["unit"]


def _systemd_analyze(directory, names):
    return subprocess.run(
        ["systemd-analyze", "verify"] + names, cwd=directory, capture_output=True, text=True, timeout=60, check=False
    )


def test_hostile_docker_units_parse_with_systemd_analyze_verify(rendered, tmp_path):
    # systemd-analyze of this machine (systemd 252, as the testbed host); no booted systemd needed.
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing: install systemd (make host-packages)")
    names = []
    for case in sorted(HOSTILE):
        if "docker" in case:
            unit = rendered[case]["keys"]["unit"]
            (tmp_path / unit).write_text(rendered[case]["unit"])
            names.append(unit)
    proc = _systemd_analyze(tmp_path, names)
    # Anything said about our units is a parse problem (docker.service itself may be absent here).
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if any(n in line for n in names)]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


# --- real systemd on a test host (docker) ------------------------------------------------------

RECORDER = """#!/usr/bin/python3
# TEST DOUBLE for the container CLI (docker): appends its argv as one JSON line, runs nothing.
import json, sys
with open("/var/lib/llmfleet-test/argv.jsonl", "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@pytest.fixture(scope="module")
def test_host():
    """A testbed host (helpers/testbed.py) with the argv recorder installed."""
    with start_test_host("llmfleet-unitquote") as name:
        _docker(
            "exec",
            "-i",
            name,
            "sh",
            "-c",
            "mkdir -p /usr/local/libexec/llmfleet-test /var/lib/llmfleet-test && cat > %s && chmod 755 %s"
            % (unit_render.RECORDER_PATH, unit_render.RECORDER_PATH),
            input=RECORDER,
        )
        yield name


def _host_write(host, path, content, mode="0644"):
    _docker(
        "exec",
        "-i",
        host,
        "sh",
        "-c",
        'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod %s "$1"' % mode,
        "sh",
        path,
        input=content,
    )


def _expected_argv(case, got):
    """The docker run argv the unit must run: the plan's container options, image and command, the
    secrets as the plan says (hf token file; key by --env-file or after the command)."""
    vars_ = HOSTILE[case][0]
    plan, keys = vars_["llmfleet_plan"], got["keys"]
    c = plan["container"]
    argv = ["run", "--rm", "--name", keys["name"], "--gpus", c["gpus"], "--ipc=" + c["ipc"]]
    if c.get("shm_size"):
        argv += ["--shm-size", c["shm_size"]]
    for port in c["ports"]:
        argv += ["-p", port]
    for volume in c["volumes"]:
        argv += ["-v", volume]
    for key in sorted(plan["env"]):
        argv += ["-e", "%s=%s" % (key, plan["env"][key])]
    hf = plan["secrets"]["hf_token"]
    argv += ["-v", keys["hf_token_file"] + ":" + hf["mount"] + ":ro", "-e", hf["env"] + "=" + hf["mount"]]
    if plan["secrets"]["api_key"]["via"] == "env":
        argv += ["--env-file", keys["env_file"]]
    argv += ["--label", "llmfleet.plan-hash=" + plan["hash"], "--label", "llmfleet.restart-key=" + keys["restart_key"]]
    argv += [plan["image"]] + plan["command"]
    if plan["secrets"]["api_key"]["via"] == "arg":
        argv += [plan["secrets"]["api_key"]["name"], unit_cases.HOSTILE_KEY]
    return argv


@pytest.mark.docker
@pytest.mark.parametrize("case", ["hostile-vllm-docker", "hostile-sglang-docker"])
def test_the_hostile_unit_runs_exactly_the_intended_argv_on_systemd(rendered, test_host, case):
    got = rendered[case]
    keys = got["keys"]
    unit_path = "/etc/systemd/system/" + keys["unit"]
    _host_write(test_host, unit_path, got["recorder_unit"])
    _host_write(test_host, keys["env_file"], got["env"], "0600")
    _host_write(test_host, keys["hf_token_file"], got["hf_token"], "0600")
    _docker("exec", test_host, "sh", "-c", "rm -f /var/lib/llmfleet-test/argv.jsonl %s" % unit_cases.INJECTED)
    verify = _docker("exec", test_host, "systemd-analyze", "verify", unit_path, check=False)
    assert verify.returncode == 0 and keys["unit"] not in verify.stdout + verify.stderr, verify.stdout + verify.stderr
    _docker("exec", test_host, "systemctl", "daemon-reload")
    # --wait: until the unit is inactive again (the recorder exits at once; ExecStop then runs).
    start = _docker("exec", test_host, "systemctl", "start", "--wait", keys["unit"], check=False)
    records = _docker("exec", test_host, "cat", "/var/lib/llmfleet-test/argv.jsonl", check=False).stdout
    calls = [json.loads(line) for line in records.splitlines()]
    journal = _docker("exec", test_host, "journalctl", "-u", keys["unit"], "--no-pager", check=False).stdout
    assert start.returncode == 0, start.stderr + journal
    assert calls == [["rm", "-f", keys["name"]], _expected_argv(case, got), ["stop", "-t", "60", keys["name"]]], journal
    injected = _docker("exec", test_host, "test", "-e", unit_cases.INJECTED, check=False)
    assert injected.returncode != 0, "a hostile value ran a command: %s exists" % unit_cases.INJECTED
    _docker("exec", test_host, "rm", "-f", unit_path)


@pytest.mark.docker
def test_docker_reads_the_vllm_key_file_literally(rendered, tmp_path):
    # The vLLM key reaches the engine through `docker run --env-file`: docker's own parser reads
    # the file (a created, never started container of a local image; nothing runs).
    require_docker(HOST_IMAGE)
    got = rendered["hostile-vllm-docker"]
    path = tmp_path / "secrets.env"  # the docker CLI reads it, here
    path.write_text(got["env"])
    name = "llmfleet-unitquote-env-%s" % uuid.uuid4().hex[:8]
    _docker("create", "--name", name, "--env-file", str(path), HOST_IMAGE, "true")
    try:
        env = json.loads(_docker("inspect", "-f", "{{json .Config.Env}}", name).stdout)
    finally:
        _docker("rm", "-f", name, check=False)
    assert "VLLM_API_KEY=" + unit_cases.HOSTILE_KEY in env


def _generate_quadlets(rendered, directory):
    """podman 5's quadlet generator (the podman-host image) on the hostile quadlets: {case: service text}."""
    cases = sorted(case for case in HOSTILE if "podman" in case)
    for case in cases:
        (directory / (rendered[case]["keys"]["name"] + ".container")).write_text(rendered[case]["unit"])
    services, _stderr = quadlet_generator(directory)
    return {case: services[rendered[case]["keys"]["name"]] for case in cases}


@pytest.mark.docker
@pytest.mark.parametrize("case", ["hostile-vllm-podman", "hostile-sglang-podman"])
def test_the_hostile_quadlet_generates_a_unit_that_runs_the_intended_podman_argv(rendered, test_host, tmp_path, case):
    # The generator's service, run by systemd on the test host with podman swapped for the argv
    # recorder (Type=simple: the recorder cannot notify as conmon does). Quadlet orders podman's
    # options itself, so the options are checked as pairs, and the end as image + command exactly.
    generated = _generate_quadlets(rendered, tmp_path)[case]
    got, plan = rendered[case], HOSTILE[case][0]["llmfleet_plan"]
    keys = got["keys"]
    unit = keys["name"] + "-quadlet.service"
    unit_path = "/etc/systemd/system/" + unit
    _host_write(
        test_host,
        unit_path,
        generated.replace("/usr/bin/podman", unit_render.RECORDER_PATH).replace("Type=notify", "Type=simple"),
    )
    _host_write(test_host, keys["env_file"], got["env"], "0600")
    _docker("exec", test_host, "sh", "-c", "rm -f /var/lib/llmfleet-test/argv.jsonl %s" % unit_cases.INJECTED)
    _docker("exec", test_host, "systemctl", "daemon-reload")
    start = _docker("exec", test_host, "systemctl", "start", "--wait", unit, check=False)
    journal = _docker("exec", test_host, "journalctl", "-u", unit, "--no-pager", check=False).stdout
    records = _docker("exec", test_host, "cat", "/var/lib/llmfleet-test/argv.jsonl", check=False).stdout
    runs = [call for call in map(json.loads, records.splitlines()) if call[:1] == ["run"]]
    _docker("exec", test_host, "rm", "-f", unit_path)
    assert start.returncode == 0, start.stderr + journal
    assert len(runs) == 1, records
    argv = runs[0]
    pairs = set(zip(argv, argv[1:]))
    assert ("--name", keys["name"]) in pairs
    assert ("--env", "LLMFLEET_HOSTILE=" + unit_cases.HOSTILE) in pairs
    for volume in plan["container"]["volumes"]:
        assert ("-v", volume) in pairs, volume
    assert ("-v", keys["hf_token_file"] + ":/run/secrets/hf_token:ro") in pairs
    tail = [plan["image"]] + plan["command"]
    if plan["secrets"]["api_key"]["via"] == "env":
        assert ("--env-file", keys["env_file"]) in pairs
    else:
        tail += [plan["secrets"]["api_key"]["name"], unit_cases.HOSTILE_KEY]
    assert argv[-len(tail) :] == tail
    injected = _docker("exec", test_host, "test", "-e", unit_cases.INJECTED, check=False)
    assert injected.returncode != 0, "a hostile value ran a command: %s exists" % unit_cases.INJECTED
