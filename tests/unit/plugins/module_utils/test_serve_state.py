"""llmfleet.serving.serve_state's verdict: a host is skipped by a no-change deploy only when everything the serve
role would compare matches; anything a user broke by hand (a stopped container, a removed or edited unit, a
changed secret file, a fact file) makes it not in sync, so the whole role runs and repairs it."""

import hashlib

import pytest
from ansible.plugins.filter.core import get_hash, to_json

from ansible_collections.llmfleet.serving.plugins.module_utils._restart import restart_key
from ansible_collections.llmfleet.serving.plugins.module_utils._serve_state import (
    file_problem,
    host_state,
    parse_inspect,
    parse_systemctl_show,
)

UNIT = b"[Unit]\nDescription=llmfleet\n"
PLAN_HASH = "0123abcd"
KEY = "a" * 64


def _inst(name="llmfleet-sglang", **over):
    inst = {
        "container": name,
        "unit": name + ".service",
        "unit_path": "/etc/systemd/system/%s.service" % name,
        "unit_sha256": hashlib.sha256(UNIT).hexdigest(),
        "restart_key": KEY,
        "plan_hash": PLAN_HASH,
        "secret_dir": "/etc/llmfleet/" + name,
        "hf_token_file": "/etc/llmfleet/%s/hf_token" % name,
        "env_file": "/etc/llmfleet/%s/secrets.env" % name,
        "health_url": "http://127.0.0.1:8000/health",
    }
    inst.update(over)
    return inst


def _host(inst, fact=b"{}\n"):
    """A host where ``inst`` runs exactly as the role left it."""
    units = {
        inst["unit"]: {
            "Id": inst["unit"],
            "ActiveState": "active",
            "UnitFileState": "enabled",
            "NeedDaemonReload": "no",
        }
    }
    containers = {inst["container"]: {"running": True, "restart_key": KEY}}
    files = {
        inst["unit_path"]: {"sha256": hashlib.sha256(UNIT).hexdigest(), "mode": 0o644, "uid": 0, "regular": True},
        inst["secret_dir"]: {"mode": 0o700, "uid": 0, "regular": False, "directory": True},
        "/etc/ansible/facts.d/llmfleet_plans.fact": {
            "sha256": hashlib.sha256(fact).hexdigest(),
            "mode": 0o644,
            "uid": 0,
            "regular": True,
        },
    }
    facts = [{"path": "/etc/ansible/facts.d/llmfleet_plans.fact", "sha256": hashlib.sha256(fact).hexdigest()}]
    return units, containers, files, facts


def _verdict(inst, units, containers, files, facts, health=None, secrets_key=KEY):
    return host_state(
        [inst],
        "docker",
        facts,
        units,
        containers,
        files,
        health or {inst["health_url"]: None},
        {inst["container"]: secrets_key},
    )


def test_a_host_as_the_role_left_it_is_in_sync():
    inst = _inst()
    out = _verdict(inst, *_host(inst))
    assert out["in_sync"] is True
    assert out["problems"] == []
    assert out["running"] == {inst["container"]: KEY}


@pytest.mark.parametrize(
    "break_it, expected",
    [
        # docker stop: the container is there but does not run (the unit may even still say active).
        (lambda u, c, f: c[next(iter(c))].update(running=False), "is not running"),
        # docker rm / a systemctl stop of the --rm container.
        (lambda u, c, f: c.clear(), "does not exist"),
        (lambda u, c, f: u[next(iter(u))].update(ActiveState="inactive"), "is inactive, not active"),
        (lambda u, c, f: u[next(iter(u))].update(UnitFileState="disabled"), "not enabled"),
        (lambda u, c, f: u[next(iter(u))].update(NeedDaemonReload="yes"), "changed on disk"),
        # A unit file removed or edited by hand.
        (
            lambda u, c, f: f.pop("/etc/systemd/system/llmfleet-sglang.service"),
            "unit file /etc/systemd/system/llmfleet-sglang.service is missing",
        ),
        (
            lambda u, c, f: f["/etc/systemd/system/llmfleet-sglang.service"].update(sha256="0" * 64),
            "differs from what the role writes",
        ),
        # A container started from another plan or secrets.
        (lambda u, c, f: c[next(iter(c))].update(restart_key="b" * 64), "runs another plan or secrets"),
        (lambda u, c, f: f["/etc/llmfleet/llmfleet-sglang"].update(mode=0o755), "not a root-only (0700) directory"),
        (lambda u, c, f: f["/etc/ansible/facts.d/llmfleet_plans.fact"].update(sha256="0" * 64), "fact file"),
    ],
)
def test_anything_broken_by_hand_makes_the_host_not_in_sync(break_it, expected):
    inst = _inst()
    units, containers, files, facts = _host(inst)
    break_it(units, containers, files)
    out = _verdict(inst, units, containers, files, facts)
    assert out["in_sync"] is False
    assert any(expected in p for p in out["problems"]), out["problems"]


def test_a_server_that_does_not_answer_is_not_in_sync():
    inst = _inst()
    out = _verdict(inst, *_host(inst), health={inst["health_url"]: "HTTP 503"})
    assert out["in_sync"] is False
    assert out["problems"] == ["llmfleet-sglang: http://127.0.0.1:8000/health does not answer: HTTP 503"]


def test_secret_files_changed_by_hand_are_found_without_their_content():
    inst = _inst()
    units, containers, files, facts = _host(inst)
    out = _verdict(inst, units, containers, files, facts, secrets_key="c" * 64)
    assert not out["in_sync"]
    assert "the secret files in /etc/llmfleet/llmfleet-sglang differ" in out["problems"][0]
    files[inst["env_file"]] = {"sha256": "x", "mode": 0o644, "uid": 0, "regular": True}
    out = _verdict(inst, units, containers, files, facts)
    assert any("secrets.env is not a root-only (0600) file" in p for p in out["problems"])


def test_the_restart_key_is_the_serve_roles_definition():
    # roles/serve/vars/main.yml: (plan.hash ~ ':' ~ ([hf, env] | to_json | hash('sha256'))) | hash('sha256'),
    # with Ansible's own filters, on a value with characters JSON escapes.
    hf, env = "hf_TESTONLY", 'VLLM_API_KEY=sk-"TESTONLY"\\é'
    jinja = get_hash((PLAN_HASH + ":" + get_hash(to_json([hf, env]), "sha256")), "sha256")
    assert restart_key(PLAN_HASH, hf, env) == jinja
    assert restart_key(PLAN_HASH, hf, "") != jinja


def test_a_host_with_no_planned_instance_is_never_in_sync():
    assert host_state([], "docker", [], {}, {}, {}, {})["in_sync"] is False


def test_systemctl_show_and_inspect_output_are_read_per_unit_and_container():
    text = (
        "Id=a.service\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n\n"
        "Id=b.service\nActiveState=inactive\nUnitFileState=\nNeedDaemonReload=no\n"
    )
    units = parse_systemctl_show(text)
    assert units["a.service"]["ActiveState"] == "active"
    assert units["b.service"]["ActiveState"] == "inactive"
    containers = parse_inspect("/a true %s\n/b false \n" % KEY)
    assert containers == {"a": {"running": True, "restart_key": KEY}, "b": {"running": False, "restart_key": ""}}


def test_a_file_the_role_removes_must_be_absent():
    assert file_problem("f", None, None) is None
    assert "exists but the role removes it" in file_problem("f", None, {"sha256": "x"})
    assert "mode 0o644" in file_problem("f", "x", {"sha256": "x", "mode": 0o644, "uid": 0}, mode=0o600, uid=0)
