"""The rollout scenario's image pre-pull check (extensions/molecule/rollout/files/prepull_order.py): from a rollout's
ansible.posix.json output and each test host's docker events, it says whether every host of the batch pulled its new
image before the batch's first drain and before any container was stopped. Hand-made records, no Docker."""

import datetime
import importlib.util
import json

import pytest
from helpers.paths import ROOT

SCRIPT = ROOT / "extensions" / "molecule" / "rollout" / "files" / "prepull_order.py"
spec = importlib.util.spec_from_file_location("prepull_order_under_test", SCRIPT)
po = importlib.util.module_from_spec(spec)
spec.loader.exec_module(po)

T0 = 1_800_000_000.0
IMAGES = {"gpu-a": "reg:5000/vllm/vllm-openai:cu130-new", "gpu-b": "reg:5000/lmsysorg/sglang:hopper-new"}


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def task(name, start, **hosts):
    return {"task": {"name": name, "duration": {"start": iso(start), "end": iso(start + 1)}}, "hosts": hosts}


def rollout(pull_changed=("gpu-a", "gpu-b"), drain_at=T0 + 20, prepull=True):
    tasks = [task("Decide which instances of this host the new plan restarts", T0, **{"gpu-a": {}, "gpu-b": {}})]
    if prepull:
        tasks += [
            task(po.PULL_TASK, T0 + 1, **{"gpu-a": {}, "gpu-b": {}}),
            # As the ansible.posix.json callback names a role's task.
            task(
                "llmfleet.serving.serve : " + po.PULL_INNER,
                T0 + 2,
                **{h: {"changed": h in pull_changed} for h in IMAGES},
            ),
        ]
    tasks += [
        task("Include the apply tasks", drain_at - 1, **{"gpu-a": {}, "gpu-b": {}}),
        task(po.DRAIN_TASK, drain_at, **{"gpu-a": {"changed": True}, "gpu-b": {"changed": True}}),
        # The serve role's own pull after the drain finds the images there.
        task(
            "llmfleet.serving.serve : " + po.PULL_INNER,
            drain_at + 5,
            **{"gpu-a": {"skipped": True}, "gpu-b": {"skipped": True}},
        ),
    ]
    return {"plays": [{"play": {"name": "Roll out the plan, batch by batch"}, "tasks": tasks}]}


def events(pull_at=None, stop_at=None, image=None, pulls=1):
    lines = ["%d container exec_die: sh abc" % int((T0 + 1) * 1e9)]
    for _pull in range(pulls if pull_at is not None else 0):
        lines.append("%d image pull %s" % (int(pull_at * 1e9), image))
    if stop_at is not None:
        lines += ["%d container kill c1" % int(stop_at * 1e9), "%d container die c1" % int((stop_at + 2) * 1e9)]
    return "\n".join(lines) + "\n"


def both(pull_a=T0 + 3, pull_b=T0 + 4, stop_a=T0 + 25, stop_b=T0 + 26, pulls=1):
    return {
        "gpu-a": events(pull_a, stop_a, IMAGES["gpu-a"], pulls),
        "gpu-b": events(pull_b, stop_b, IMAGES["gpu-b"], pulls),
    }


def test_pulls_on_every_host_before_the_first_drain_pass_and_are_timed():
    out = po.check(rollout(), both(), IMAGES)
    assert out["problems"] == []
    assert out["pulled_at"] == {"gpu-a": pytest.approx(T0 + 3), "gpu-b": pytest.approx(T0 + 4)}
    assert out["last_pull_before_first_drain_s"] == pytest.approx(16, abs=0.01)
    assert out["last_pull_before_first_stop_s"] == pytest.approx(21, abs=0.01)
    assert out["prepull_changed_hosts"] == ["gpu-a", "gpu-b"]
    assert out["timeline"][0].endswith(po.PULL_TASK + " (changed: none)")
    assert out["timeline"][-1].endswith(po.DRAIN_TASK + " (changed: gpu-a, gpu-b)")


def test_a_pull_after_the_drain_is_reported():
    # The old behaviour: the serve role pulled after the batch was drained.
    out = po.check(rollout(drain_at=T0 + 3.5), both(pull_b=T0 + 4, stop_a=T0 + 5), IMAGES)
    assert any("after the first drain started" in p for p in out["problems"]), out


def test_a_pull_after_a_container_of_the_batch_stopped_is_reported():
    out = po.check(rollout(drain_at=T0 + 50), both(pull_b=T0 + 30, stop_a=T0 + 25), IMAGES)
    assert any("after the batch's first container was stopped" in p for p in out["problems"]), out


def test_a_host_that_did_not_pull_its_image_is_named():
    ev = both()
    ev["gpu-b"] = events(None, T0 + 26)
    out = po.check(rollout(pull_changed=("gpu-a",)), ev, IMAGES)
    assert any(p.startswith("gpu-b pulled %s 0 times" % IMAGES["gpu-b"]) for p in out["problems"]), out
    assert any(p.startswith("gpu-b: the pre-pull before the drain reported no pull") for p in out["problems"]), out


def test_an_image_pulled_twice_is_reported():
    out = po.check(rollout(), both(pulls=2), IMAGES)
    assert any("2 times" in p for p in out["problems"]), out


def test_a_rollout_without_the_prepull_task_fails_the_check():
    out = po.check(rollout(prepull=False), both(), IMAGES)
    assert any("did not run before the first drain" in p for p in out["problems"]), out


def test_the_cli_reads_the_json_after_other_output_and_exits_1_on_a_problem(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps(rollout()) + "\nPlaybook run took 0 days, 0 hours, 1 minutes, 2 seconds\n")
    args = ["--playbook-json", str(run)]
    for host, text in both().items():
        (tmp_path / host).write_text(text)
        args += ["--events", "%s=%s" % (host, tmp_path / host), "--image", "%s=%s" % (host, IMAGES[host])]
    assert po.main(args) == 0
    (tmp_path / "gpu-a").write_text(events(T0 + 30, T0 + 25, IMAGES["gpu-a"]))
    assert po.main(args) == 1
