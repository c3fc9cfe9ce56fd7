"""The serve role's input checks, run by ansible-playbook on this machine (connection local) with the GPU
test double (extensions/testbed/bin/nvidia-smi, 8 x B200) first on PATH.

Each bad value must fail the role with a message that names the ROLE variable the user set, the value, what
would work and "Nothing was changed on <host>", before any task that could change the host: the run is in
check mode as a safety net (a regression must not write a unit into this machine's /etc/systemd/system), and
the test asserts from the task list that no task after the refusal ran and that the secret and fact
directories (under tmp_path) were never created. The molecule scenario (verify_bad_inputs.yml) runs the same
refusals for real against a healthy server and checks its unit and container are untouched.
"""

import json
import os

import pytest
from helpers.serve_role import KEY, run_role

pytestmark = pytest.mark.slow

# Tasks that come before any change: a refusal must come from one of them and nothing after it may run.
SAFE_TASK_PREFIXES = (
    "Validating arguments against arg spec",
    "Check the role's variables",
    "Check the secrets",
    "Check the container name",
    "Fail with the name rule",
    "Check that a server published",
    "Deploy the planned server",
    "Remove the server",
    "Detect the GPUs",
    "Plan the server",
    "Fail when the planner",
)


def task_names(out, keep):
    """Names (without the "llmfleet.serving.serve : " prefix) of the tasks whose node1 result passes keep."""
    return [
        t["task"]["name"].split(" : ", 1)[-1]
        for t in out["plays"][0]["tasks"]
        if "node1" in t["hosts"] and keep(t["hosts"]["node1"])
    ]


def refusal(proc, out, dirs):
    """The one failed task's message; asserts nothing after it ran and nothing was created."""
    assert proc.returncode != 0, proc.stdout[-3000:]
    ran = task_names(out, lambda r: not r.get("skipped"))
    # The name check's filter error is rescued by the task that re-raises it: only that one counts.
    failed = [
        t["hosts"]["node1"]
        for t in out["plays"][0]["tasks"]
        if t["hosts"].get("node1", {}).get("failed")
        and not t["task"]["name"].endswith("Check the container name with the planner's rule")
    ]
    assert len(failed) == 1, ran
    assert [
        n for n in task_names(out, lambda r: r.get("failed")) if n != "Check the container name with the planner's rule"
    ] == ran[-1:], ran
    assert all(name.startswith(SAFE_TASK_PREFIXES) for name in ran), ran
    assert not any(d.exists() for d in dirs)
    assert KEY not in proc.stdout and KEY not in proc.stderr
    # A looped check fails per item: its message is the failed items' messages.
    items = [r["msg"] for r in failed[0].get("results", []) if r.get("failed")]
    return " ".join(items) if items else failed[0]["msg"]


# (role variables, fragments the message must hold). Each message names the role variable and what works.
BAD_ROLE_INPUTS = [
    ({"serve_pull_retries": -1}, ["serve_pull_retries: -1 is not a whole number of retries from 0 to 20"]),
    ({"serve_ready_timeout": -5}, ["serve_ready_timeout: -5 is out of range", "1 to 86400"]),
    ({"serve_ready_timeout": "-5"}, ["serve_ready_timeout: \"-5\" is out of range"]),
    ({"serve_ready_timeout": 90000}, ["serve_ready_timeout: 90000 is out of range"]),
    ({"serve_ready_poll_interval": 0}, ["serve_ready_poll_interval: 0 is out of range", "above 0"]),
    ({"serve_ready_poll_interval": -1}, ["serve_ready_poll_interval: -1 is out of range"]),
    ({"serve_ready_poll_interval": 61}, ["serve_ready_poll_interval: 61 is out of range", "at most 60"]),
    (
        {"serve_ready_poll_interval": 30, "serve_ready_timeout": 10},
        ["serve_ready_poll_interval: 30 is not below serve_ready_timeout (10)"],
    ),
    ({"serve_secrets_dir": "relative/secrets"}, ["serve_secrets_dir: \"relative/secrets\" is not an absolute"]),
    (
        {"serve_secrets_dir": "/etc/llmfleet/../../tmp"},
        ["serve_secrets_dir: \"/etc/llmfleet/../../tmp\" is not an absolute, normalised"],
    ),
    ({"serve_secrets_dir": "/"}, ["serve_secrets_dir: \"/\" is not an absolute"]),
    ({"serve_secrets_dir": "/etc"}, ["serve_secrets_dir: \"/etc\" is a system directory", "/etc/llmfleet"]),
    ({"serve_secrets_dir": "/tmp"}, ["serve_secrets_dir: \"/tmp\" is a system directory"]),
    ({"serve_secrets_dir": "/etc/llmfleet/"}, ["serve_secrets_dir: \"/etc/llmfleet/\" is not an absolute, normalised"]),
    ({"serve_fact_dir": "/var"}, ["serve_fact_dir: \"/var\" is a system directory", "/etc/ansible/facts.d"]),
    ({"serve_fact_dir": "facts.d"}, ["serve_fact_dir: \"facts.d\" is not an absolute"]),
    (
        {"serve_extra_args": "--max-num-seqs 64,--enforce-eager"},
        ["serve_extra_args: \"--max-num-seqs 64,--enforce-eager\" is not a list", "write a YAML list"],
    ),
    ({"serve_extra_args": ["--max-num-seqs", 64]}, ["serve_extra_args:", "not strings ([64])"]),
    ({"serve_env": "NCCL_DEBUG=INFO"}, ["serve_env: \"NCCL_DEBUG=INFO\" is not a mapping"]),
    (
        {"serve_container_name": "../../tmp/victim"},
        ["serve_container_name: '../../tmp/victim' is not a valid name", "llmfleet-deepseek"],
    ),
    ({"serve_container_name": "a b"}, ["serve_container_name: 'a b' is not a valid name"]),
    ({"serve_hf_token": "hf_a\nb"}, ["serve_hf_token contains a line break", "(the value is not shown)"]),
    ({"serve_api_key": "sk-a\rb"}, ["serve_api_key contains a line break"]),
    (
        {"serve_api_key": ""},
        [
            "serve_api_key is empty",
            "all interfaces",
            "serve_publish_address: 127.0.0.1",
            "serve_allow_unauthenticated: true",
        ],
    ),
    ({"serve_api_key": "", "serve_publish_address": "0.0.0.0"}, ["published on 0.0.0.0", "Set serve_api_key"]),
    ({"serve_api_key": "", "serve_publish_address": "10.0.0.5"}, ["published on 10.0.0.5"]),
]


# What the role's argument_specs already refuse (a value that cannot be converted at all) stays Ansible's
# message, which names the role variable too.
BAD_FOR_ARGUMENT_SPECS = [
    ({"serve_pull_retries": "2 --all"}, ["serve_pull_retries", "cannot be converted to an int"]),
    ({"serve_ready_timeout": "soon"}, ["argument 'serve_ready_timeout' is of type str"]),
    ({"serve_profiles": "mine"}, ["argument 'serve_profiles' is of type str"]),
    ({"serve_wait": "maybe"}, ["argument 'serve_wait' is of type str"]),
    ({"serve_engine": "trt"}, ["serve_engine", "trt"]),
]


@pytest.mark.parametrize(
    "role_vars,fragments", BAD_FOR_ARGUMENT_SPECS, ids=[json.dumps(v) for v, _fragments in BAD_FOR_ARGUMENT_SPECS]
)
def test_argument_specs_refuse_what_cannot_be_converted(tmp_path, role_vars, fragments):
    msg = refusal(*run_role(tmp_path, role_vars))
    for fragment in fragments:
        assert fragment in msg, msg


@pytest.mark.parametrize(
    "role_vars,fragments", BAD_ROLE_INPUTS, ids=[json.dumps(v) for v, _fragments in BAD_ROLE_INPUTS]
)
def test_a_bad_role_variable_is_refused_before_any_change(tmp_path, role_vars, fragments):
    msg = refusal(*run_role(tmp_path, role_vars))
    for fragment in fragments:
        assert fragment in msg, msg
    assert msg.endswith("Nothing was changed on node1.")


def test_removal_refuses_a_container_name_that_is_a_path(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    name = os.path.relpath(victim, tmp_path / "secrets")  # ../victim from the secrets directory
    proc, out, dirs = run_role(tmp_path, {"serve_container_name": name}, state="absent")
    msg = refusal(proc, out, dirs)
    assert msg.startswith("serve_container_name: '../victim' is not a valid name"), msg
    assert (victim / "keep").exists()


# The planner's refusals, re-raised by the role under the variable the user set (the module names its option).
PLANNER_REFUSALS = [
    ({"serve_port": 0}, "serve_port: "),
    ({"serve_port": 70000}, "serve_port: "),
    ({"serve_tensor_parallel_size": -4}, "serve_tensor_parallel_size: "),
    ({"serve_image": "foo:"}, "serve_image: "),
    ({"serve_image": "--privileged"}, "serve_image: "),
    ({"serve_extra_args": ["--no-such-flag"]}, "serve_extra_args: "),
    ({"serve_hf_cache_dir": "/"}, "serve_hf_cache_dir: "),
    ({"serve_served_model_name": "deep seek"}, "serve_served_model_name: "),
    ({"serve_env": {"HF_TOKEN": "hf_x"}}, "serve_env: "),
    ({"serve_model": "no-such-model"}, "serve_model: "),
    ({"serve_publish_address": "not an address"}, "serve_publish_address: "),
]


@pytest.mark.parametrize("role_vars,prefix", PLANNER_REFUSALS, ids=[json.dumps(v) for v, _prefix in PLANNER_REFUSALS])
def test_a_planner_refusal_names_the_role_variable(tmp_path, role_vars, prefix):
    msg = refusal(*run_role(tmp_path, role_vars))
    assert msg.startswith(prefix), msg
    # The module's own wording follows the prefix, whatever it is; it never names the module option as the
    # thing to set ("port: ...") without the role's variable in front.
    assert len(msg) > len(prefix) + 20 and msg.endswith("Nothing was changed on node1."), msg


def test_unknown_engine_flags_pass_with_serve_allow_unknown_args(tmp_path):
    proc, out, _dirs = run_role(
        tmp_path,
        {
            "serve_extra_args": ["--no-such-flag"],
            "serve_allow_unknown_args": True,
            "serve_secrets_dir": str(tmp_path / "s"),
            "serve_fact_dir": str(tmp_path / "f"),
        },
    )
    plan = [
        t["hosts"]["node1"]
        for t in out["plays"][0]["tasks"]
        if t["task"]["name"].endswith("Keep the plan for the verify role and the fleet summary")
    ]
    assert plan and "--no-such-flag" in plan[0]["ansible_facts"]["llmfleet_plan"]["command"], proc.stdout[-2000:]


@pytest.mark.parametrize(
    "role_vars",
    [
        {"serve_api_key": "", "serve_publish_address": "127.0.0.1"},
        {"serve_api_key": "", "serve_allow_unauthenticated": True},
        {"serve_ready_timeout": 0, "serve_ready_poll_interval": "0.5"},
        {"serve_ready_timeout": "600", "serve_ready_poll_interval": 60},
        {"serve_secrets_dir": "/etc/llmfleet", "serve_fact_dir": "/etc/ansible/facts.d"},
    ],
)
def test_good_values_pass_the_checks_and_reach_the_plan(tmp_path, role_vars):
    # Check mode with serve_start false: the role plans and renders, then stops short of any change.
    role_vars = dict({"serve_secrets_dir": str(tmp_path / "s"), "serve_fact_dir": str(tmp_path / "f")}, **role_vars)
    proc, out, _dirs = run_role(tmp_path, role_vars)
    ran = task_names(out, lambda r: not r.get("skipped"))
    assert any(name.startswith("Keep the plan") for name in ran), proc.stdout[-3000:]
    failed = task_names(out, lambda r: r.get("failed"))
    assert not any(name.startswith(SAFE_TASK_PREFIXES) for name in failed), failed
