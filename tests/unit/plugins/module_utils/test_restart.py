"""The serve role's restart decision (plugins/module_utils/_restart.py): a running server is restarted only when
what it runs changed, never for a unit that only reads differently; the ports its container holds are its own."""

import json

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils._restart import (
    RESTART_KEY_LABEL,
    RestartInputError,
    restart_decision,
    restart_key,
    running_container,
    stale_ports,
)

KEY = restart_key("a" * 64, "", "VLLM_API_KEY=sk-TESTONLY-restart\n")
OTHER = restart_key("b" * 64, "", "VLLM_API_KEY=sk-TESTONLY-restart\n")


def _inspect(running=True, key=KEY, bindings=None, rc=0):
    """A registered result of the role's inspect task (tasks/instance.yml's --format)."""
    container = {
        "State": {"Running": running},
        "HostConfig": {
            "PortBindings": bindings if bindings is not None else {"8000/tcp": [{"HostIp": "", "HostPort": "8000"}]}
        },
        "Config": {"Labels": {RESTART_KEY_LABEL: key}},
    }
    return {"rc": rc, "stdout": json.dumps([container]), "changed": False}


def test_the_key_depends_on_the_plan_and_each_secret_file():
    base = restart_key("h1", "hf_x", "K=v")
    assert len(base) == 64 and int(base, 16) >= 0
    assert restart_key("h1", "hf_x", "K=v") == base
    assert (
        len(
            {base, restart_key("h2", "hf_x", "K=v"), restart_key("h1", "hf_y", "K=v"), restart_key("h1", "hf_x", "K=w")}
        )
        == 4
    )
    # The two files are not concatenated: moving text from one to the other is a change.
    assert restart_key("h1", "ab", "") != restart_key("h1", "a", "b")


def test_the_key_never_contains_the_secret():
    assert "sk-TESTONLY" not in KEY


def test_same_key_running_is_left_alone():
    got = restart_decision(KEY, _inspect())
    assert (got["restart"], got["start"], got["running"], got["warning"]) == (False, False, True, "")
    assert got["running_key"] == KEY and got["ports_held"] == [8000]
    assert "keeps running" in got["reason"]


def test_a_unit_only_change_does_not_restart_and_warns():
    got = restart_decision(KEY, _inspect(), unit_changed=True)
    assert got["restart"] is False and got["start"] is False
    assert "next restart" in got["warning"] and "next restart" in got["reason"]


def test_another_key_restarts_naming_the_plan_change():
    got = restart_decision(KEY, _inspect(key=OTHER), changes=["tensor_parallel_size: 8 -> 4"], plan_unchanged=False)
    assert got["restart"] is True and got["start"] is False
    assert "tensor_parallel_size: 8 -> 4" in got["reason"] and OTHER[:12] in got["reason"] and KEY[:12] in got["reason"]


def test_same_plan_other_key_says_the_secret_files_changed_without_the_secret():
    got = restart_decision(KEY, _inspect(key=OTHER), changes=[], plan_unchanged=True)
    assert got["restart"] is True
    assert "secret files changed" in got["reason"] and "sk-TESTONLY" not in json.dumps(got)


@pytest.mark.parametrize("labels", [{}, None, {RESTART_KEY_LABEL: ""}, {RESTART_KEY_LABEL: None}])
def test_a_running_container_without_the_label_is_restarted(labels):
    result = _inspect()
    container = json.loads(result["stdout"])[0]
    container["Config"]["Labels"] = labels
    got = restart_decision(KEY, {"rc": 0, "stdout": json.dumps([container])})
    assert got["restart"] is True and got["running_key"] == "" and "no llmfleet.restart-key label" in got["reason"]


@pytest.mark.parametrize(
    "inspect",
    [
        None,
        "",
        {"rc": 1, "stdout": "", "stderr": "Error: No such container"},
        {"skipped": True, "changed": False},
        "[]",
    ],
)
def test_nothing_running_is_started_and_holds_no_port(inspect):
    got = restart_decision(KEY, inspect)
    assert got["start"] is True and got["restart"] is False and got["running"] is False and got["ports_held"] == []
    # A unit that changed while nothing runs is restarted: a unit systemd keeps retrying then runs the new one.
    changed = restart_decision(KEY, inspect, unit_changed=True)
    assert changed["restart"] is True and changed["start"] is True and "from the new unit" in changed["reason"]


def test_a_stopped_container_holds_no_port_and_is_started():
    got = restart_decision(KEY, _inspect(running=False, key=OTHER))
    assert got["start"] is True and got["restart"] is False and got["ports_held"] == []


def test_ports_held_lists_every_host_binding():
    bindings = {
        "8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8000"}, {"HostIp": "::", "HostPort": "8000"}],
        "9000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "19000"}],
        "7000/tcp": None,
    }
    assert sorted(restart_decision(KEY, _inspect(bindings=bindings))["ports_held"]) == [8000, 8000, 19000]
    assert restart_decision(KEY, _inspect(bindings={}))["ports_held"] == []


def test_the_inspect_can_be_its_stdout_or_one_container():
    text = _inspect()["stdout"]
    assert restart_decision(KEY, text)["running_key"] == KEY
    assert running_container(json.loads(text)[0]) == json.loads(text)[0]


@pytest.mark.parametrize(
    "args, argument",
    [
        (("", None), "planned_key"),
        ((None, None), "planned_key"),
        ((KEY, "not json"), "inspect"),
        ((KEY, "[1]"), "inspect"),
        ((KEY, {"rc": 0, "stdout": '[{"State": {"Running": true}, "Config": {"Labels": "x"}}]'}), "inspect"),
        (
            (
                KEY,
                {
                    "rc": 0,
                    "stdout": '[{"State": {"Running": true}, "HostConfig": {"PortBindings": {"1/tcp": [{"HostPort": "x"}]}}}]',
                },
            ),
            "inspect",
        ),
    ],
)
def test_bad_input_names_the_argument(args, argument):
    with pytest.raises(RestartInputError) as err:
        restart_decision(*args)
    assert err.value.argument == argument and str(err.value).startswith(argument + ":")


def test_bad_unit_changed_and_changes_name_the_argument():
    with pytest.raises(RestartInputError, match="^unit_changed:"):
        restart_decision(KEY, None, unit_changed="yes")
    with pytest.raises(RestartInputError, match="^changes:"):
        restart_decision(KEY, None, changes="tensor_parallel_size")


@pytest.mark.parametrize(
    "value, argument",
    [
        ((1, "", ""), "plan_hash"),
        (("h", None, ""), "hf_token_content"),
        (("h", "", 3), "env_content"),
        (("", "", ""), "plan_hash"),
    ],
)
def test_bad_key_input_names_the_argument_not_the_value(value, argument):
    with pytest.raises(RestartInputError) as err:
        restart_key(*value)
    assert err.value.argument == argument


def test_stale_ports_reads_only_running_replaced_containers():
    results = {
        "results": [
            {"rc": 0, "stdout": 'true {"8001/tcp":[{"HostIp":"","HostPort":"8001"}]}', "item": {}},
            {"rc": 0, "stdout": 'false {"8002/tcp":[{"HostIp":"","HostPort":"8002"}]}', "item": {}},
            {"rc": 1, "stdout": "", "stderr": "no such container", "item": {}},
            {"skipped": True, "item": {}},
            {"rc": 0, "stdout": "true null", "item": {}},
            {"rc": 0, "stdout": 'true {"8003/tcp":[{"HostIp":"","HostPort":"8003"}],"9/udp":null}', "item": {}},
        ]
    }
    assert stale_ports(results) == [8001, 8003]
    assert stale_ports(results["results"]) == [8001, 8003]
    assert stale_ports(None) == [] and stale_ports({"results": [], "skipped": True}) == []


def test_stale_ports_bad_input_names_the_argument():
    with pytest.raises(RestartInputError, match="^results:"):
        stale_ports("true {}")
    with pytest.raises(RestartInputError, match="^results:"):
        stale_ports([{"rc": 0, "stdout": "true {not json"}])
