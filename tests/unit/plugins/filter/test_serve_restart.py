"""The serve_restart_* filters: the restart key is the very string the role's Jinja computed before (running
containers carry it as a label, so any other string would restart every server on upgrade), and the port lists
are those the old Jinja read from the same registered results."""

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.filter.serve_restart import (
    serve_restart_decision,
    serve_restart_key,
    serve_stale_ports,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan

# roles/serve/vars/main.yml before the decision moved to Python, token for token.
OLD_RESTART_KEY = (
    "{{ (__serve_plan.hash ~ ':' ~ ([__serve_hf_token_content, __serve_env_content] | to_json | hash('sha256')))"
    "\n     | hash('sha256') }}"
)
OLD_CONTAINER = (
    "{{ (__serve_inspect.stdout | from_json | first) if (__serve_inspect is defined and __serve_inspect.rc | default(1) == 0"
    " and __serve_inspect.stdout | default('') | length > 0) else {} }}"
)
OLD_CONTAINER_PORTS = (
    "{{ (__serve_container.HostConfig.PortBindings | default({}, true) | dict2items | map(attribute='value')"
    " | flatten | map(attribute='HostPort') | map('int') | list) if __serve_container.State.Running | default(false) else [] }}"
)
OLD_CONTAINER_KEY = "{{ (__serve_container.Config.Labels | default({}, true))['llmfleet.restart-key'] | default('') }}"
OLD_STALE_PORTS = (
    "{{ __serve_stale_inspect.results | default([]) | selectattr('rc', 'defined') | selectattr('rc', 'equalto', 0)"
    " | map(attribute='stdout') | select('match', '^true ') | map('regex_replace', '^true ', '') | map('from_json')"
    " | map('default', {}, true) | map('dict2items') | flatten | map(attribute='value') | flatten"
    " | map(attribute='HostPort') | map('int') | list }}"
)


def _old(expression, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


PLAN_HASH = build_plan(samples.b200x8())["hash"]

SECRET_CASES = [
    ("", ""),
    ("hf_TESTONLY_token", ""),
    ("", 'VLLM_API_KEY=sk-TESTONLY-"quoted"\n'),
    ("hf_TESTONLY", 'LLMFLEET_API_KEY="sk-\\"x\\" $HOME `cmd`"'),
    ("jeton-é-ü-中文-🔑", "VLLM_API_KEY=ключ-TESTONLY"),
    ("tab\there", "line1\nline2\r\n"),
    ("\\", "'"),
    ("\u2028\u0000", "</script>&"),
]


@pytest.mark.parametrize("plan_hash", [PLAN_HASH, "0" * 64, "hash-with-é"])
@pytest.mark.parametrize("token, env", SECRET_CASES)
def test_the_key_is_the_old_jinja_key(plan_hash, token, env):
    old = _old(
        OLD_RESTART_KEY,
        __serve_plan={"hash": plan_hash},
        __serve_hf_token_content=token,
        __serve_env_content=env,
    )
    assert serve_restart_key(plan_hash, token, env) == old


def test_the_key_filter_names_a_bad_argument():
    with pytest.raises(AnsibleFilterError, match="serve_restart_key: env_content: expected a string, got int"):
        serve_restart_key(PLAN_HASH, "", 3)


def _registered(container, rc=0):
    return {"rc": rc, "stdout": json.dumps([container]) if container is not None else "", "changed": False}


CONTAINERS = [
    {
        "State": {"Running": True},
        "HostConfig": {
            "PortBindings": {"8000/tcp": [{"HostIp": "", "HostPort": "8000"}, {"HostIp": "::", "HostPort": "8000"}]}
        },
        "Config": {"Labels": {"llmfleet.restart-key": "k1"}},
    },
    {
        "State": {"Running": True},
        "HostConfig": {
            "PortBindings": {
                "8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18000"}],
                "9/tcp": [{"HostIp": "", "HostPort": "9"}],
            }
        },
        "Config": {"Labels": {"llmfleet.restart-key": ""}},
    },
    {"State": {"Running": True}, "HostConfig": {"PortBindings": None}, "Config": {"Labels": None}},
    {
        "State": {"Running": False},
        "HostConfig": {"PortBindings": {"8000/tcp": [{"HostIp": "", "HostPort": "8000"}]}},
        "Config": {"Labels": {"llmfleet.restart-key": "k1"}},
    },
]


@pytest.mark.parametrize(
    "registered", [_registered(c) for c in CONTAINERS] + [_registered(None, rc=1), {"skipped": True}]
)
def test_ports_and_running_key_are_what_the_old_jinja_read(registered):
    container = _old(OLD_CONTAINER, __serve_inspect=registered)
    old_ports = _old(OLD_CONTAINER_PORTS, __serve_container=container)
    got = serve_restart_decision("k1", registered)
    assert got["ports_held"] == old_ports
    if got["running"]:
        assert got["running_key"] == _old(OLD_CONTAINER_KEY, __serve_container=container)


def test_stale_ports_are_what_the_old_jinja_read():
    registered = {
        "results": [
            {"rc": 0, "stdout": 'true {"8001/tcp":[{"HostIp":"","HostPort":"8001"}]}'},
            {"rc": 0, "stdout": 'false {"8002/tcp":[{"HostIp":"","HostPort":"8002"}]}'},
            {"rc": 1, "stdout": ""},
            {"skipped": True},
            {"rc": 0, "stdout": "true null"},
            {
                "rc": 0,
                "stdout": 'true {"8003/tcp":[{"HostIp":"","HostPort":"8003"},{"HostIp":"::","HostPort":"8004"}]}',
            },
        ]
    }
    old = _old(OLD_STALE_PORTS, __serve_stale_inspect=registered)
    assert serve_stale_ports(registered) == old == [8001, 8003, 8004]
    assert serve_stale_ports(None) == _old(OLD_STALE_PORTS, __serve_stale_inspect={}) == []


def _tp(tp):
    return build_plan(samples.b200x8(), engine="vllm", tensor_parallel_size=tp)


def test_a_tensor_parallel_change_restarts_naming_it():
    before, after = _tp(8), _tp(4)
    running = _registered(
        {
            "State": {"Running": True},
            "HostConfig": {"PortBindings": {}},
            "Config": {"Labels": {"llmfleet.restart-key": serve_restart_key(before["hash"])}},
        }
    )
    got = serve_restart_decision(
        serve_restart_key(after["hash"]), running, unit_changed=True, previous_plan=before, plan=after
    )
    assert got["restart"] is True and "tensor_parallel_size: 8 -> 4" in got["reason"]


def test_the_same_plan_with_a_unit_change_is_left_running():
    plan = _tp(8)
    key = serve_restart_key(plan["hash"], "", "VLLM_API_KEY=sk-TESTONLY\n")
    running = _registered(
        {
            "State": {"Running": True},
            "HostConfig": {"PortBindings": {}},
            "Config": {"Labels": {"llmfleet.restart-key": key}},
        }
    )
    got = serve_restart_decision(key, running, unit_changed=True, previous_plan=plan, plan=plan)
    assert got["restart"] is False and got["warning"]


def test_the_decision_filter_names_a_bad_argument():
    with pytest.raises(AnsibleFilterError, match="serve_restart_decision: previous_plan: expected a plan"):
        serve_restart_decision("k", None, previous_plan=["x"], plan={})
    with pytest.raises(AnsibleFilterError, match="serve_restart_decision: inspect: "):
        serve_restart_decision("k", {"rc": 0, "stdout": "{bad"})
    with pytest.raises(AnsibleFilterError, match="serve_restart_decision: planned_key: "):
        serve_restart_decision("", None)
    with pytest.raises(AnsibleFilterError, match="serve_stale_ports: results: "):
        serve_stale_ports("true {}")
