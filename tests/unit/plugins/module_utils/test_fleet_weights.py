"""HF_HUB_OFFLINE=1 from the weights role's verified builds (fleet_plan's local_builds and hf_hub_offline)."""

import re

import pytest
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

CACHE = "/root/.cache/huggingface"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def host(gpus, address, **kw):
    entry = {"gpus": gpus, "address": address}
    entry.update(kw)
    return entry


def model_of(gpus, **kw):
    """The model id the plan of this host serves (what the weights role must have verified)."""
    return plan_fleet({"h1": host(gpus, "10.0.0.1", **kw)})["hosts"]["h1"]["instances"][0]["model_id"]


def build(model_id, cache_dir=CACHE, revision="main", commit=COMMIT):
    return {"model_id": model_id, "cache_dir": cache_dir, "revision": revision, "commit": commit}


def instances(fleet, name="h1"):
    return fleet["hosts"][name]["instances"]


def h100_cell(a=None, b=None):
    hosts = {
        "h100-a": host(samples.gpus("H100", 4), "10.0.1.1", cell="pair"),
        "h100-b": host(samples.gpus("H100", 4), "10.0.1.2", cell="pair"),
    }
    hosts["h100-a"].update(a or {})
    hosts["h100-b"].update(b or {})
    return hosts


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"local_builds": []}, id="empty"),
        pytest.param({"local_builds": None, "hf_hub_offline": "auto"}, id="null-auto"),
        pytest.param({"local_builds": [build("other-org/other-model")]}, id="other-model"),
    ],
)
def test_a_host_without_the_plans_build_keeps_its_plan_and_hash(extra):
    # Upgrading the collection must not restart engines on hosts that never ran the weights role.
    before = plan_fleet({"h1": host(samples.h200x8(), "10.0.0.1")})
    after = plan_fleet({"h1": host(samples.h200x8(), "10.0.0.1", **extra)})
    assert [i["hash"] for i in instances(after)] == [i["hash"] for i in instances(before)]
    assert instances(after) == instances(before)
    assert all("HF_HUB_OFFLINE" not in i["env"] for i in instances(after))
    if not extra.get("local_builds"):
        assert after["reasons"] == before["reasons"]
    else:
        assert any(
            "other-org/other-model" not in r and "not verified by the weights role" in r for r in after["reasons"]
        )


def test_a_verified_build_in_the_plans_cache_runs_every_replica_offline():
    model = model_of(samples.h200x8())
    before = plan_fleet({"h1": host(samples.h200x8(), "10.0.0.1")})
    fleet = plan_fleet({"h1": host(samples.h200x8(), "10.0.0.1", local_builds=[build(model)])})
    assert len(instances(fleet)) == 2
    for old, new in zip(instances(before), instances(fleet)):
        assert new["env"] == dict(old["env"], HF_HUB_OFFLINE="1")
        assert "HF_HUB_OFFLINE=1" in new["docker_run"]
        assert new["docker_run"][new["docker_run"].index("HF_HUB_OFFLINE=1") - 1] == "-e"
        assert new["hash"] != old["hash"]
        assert new["command"] == old["command"]
        assert any("HF_HUB_OFFLINE=1" in r and model in r and CACHE in r for r in new["reasons"])
    assert any(r.startswith("host h1: %s local: HF_HUB_OFFLINE=1" % model) for r in fleet["reasons"])


@pytest.mark.parametrize(
    "recorded, offline",
    [
        pytest.param("/data/hf/", "1", id="trailing-slash-still-counts"),
        pytest.param("/var/lib/llmfleet/hf", None, id="another-dir-does-not-count"),
    ],
)
def test_a_build_counts_only_in_the_plans_cache_dir_and_the_reason_says_why_not(recorded, offline):
    model = model_of(samples.h100x8())
    plain = plan_fleet({"h1": host(samples.h100x8(), "10.0.0.1", choices={"hf_cache_dir": "/data/hf"})})
    fleet = plan_fleet(
        {
            "h1": host(
                samples.h100x8(),
                "10.0.0.1",
                choices={"hf_cache_dir": "/data/hf"},
                local_builds=[build(model, recorded)],
            )
        }
    )
    assert instances(fleet)[0]["env"].get("HF_HUB_OFFLINE") == offline
    # Not counted: the plan (and so the running server) is the one without local_builds.
    assert (instances(fleet)[0]["hash"] == instances(plain)[0]["hash"]) == (offline is None)
    line = [r for r in fleet["reasons"] if "HF_HUB_OFFLINE unset" in r]
    if offline is None:
        assert line and recorded in line[0] and "/data/hf" in line[0] and "hf_cache_dir" in line[0]
    else:
        assert not line, line


def test_a_build_at_a_pinned_commit_counts_only_when_the_engine_loads_that_revision():
    # The engine loads main unless told otherwise; offline, huggingface_hub resolves main through refs/main,
    # which a build fetched at a pinned commit does not write.
    model = model_of(samples.h100x8())
    pinned = build(model, revision=COMMIT)
    fleet = plan_fleet({"h1": host(samples.h100x8(), "10.0.0.1", local_builds=[pinned])})
    assert "HF_HUB_OFFLINE" not in instances(fleet)[0]["env"]
    assert any("engine loads revision main" in r for r in fleet["reasons"])
    fleet = plan_fleet(
        {
            "h1": host(
                samples.h100x8(),
                "10.0.0.1",
                choices={"extra_args": ["--revision", COMMIT]},
                local_builds=[pinned],
            )
        }
    )
    assert instances(fleet)[0]["env"]["HF_HUB_OFFLINE"] == "1"


def test_a_cell_runs_offline_only_when_every_rank_has_the_build():
    plain = plan_fleet(h100_cell(), ["h100-a", "h100-b"])
    model = instances(plain, "h100-a")[0]["model_id"]
    both = plan_fleet(
        h100_cell({"local_builds": [build(model)]}, {"local_builds": [build(model)]}), ["h100-a", "h100-b"]
    )
    for name in ("h100-a", "h100-b"):
        assert instances(both, name)[0]["env"] == dict(instances(plain, name)[0]["env"], HF_HUB_OFFLINE="1")
        assert any("every host of cell pair" in r for r in instances(both, name)[0]["reasons"])
    half = plan_fleet(h100_cell({"local_builds": [build(model)]}), ["h100-a", "h100-b"])
    for name in ("h100-a", "h100-b"):
        assert instances(half, name)[0]["hash"] == instances(plain, name)[0]["hash"]
    line = [r for r in half["reasons"] if r.startswith("cell pair:") and "HF_HUB_OFFLINE unset" in r]
    assert line and "h100-b: not verified by the weights role" in line[0]


def test_hf_hub_offline_true_forces_it_and_false_refuses_it():
    model = model_of(samples.h100x8())
    forced = plan_fleet({"h1": host(samples.h100x8(), "10.0.0.1", hf_hub_offline=True)})
    assert instances(forced)[0]["env"]["HF_HUB_OFFLINE"] == "1"
    assert any("hf_hub_offline true" in r for r in instances(forced)[0]["reasons"])
    from_cli = plan_fleet({"h1": host(samples.h100x8(), "10.0.0.1", hf_hub_offline="true")})
    assert instances(from_cli)[0]["hash"] == instances(forced)[0]["hash"]
    plain = plan_fleet({"h1": host(samples.h100x8(), "10.0.0.1")})
    off = plan_fleet({"h1": host(samples.h100x8(), "10.0.0.1", hf_hub_offline=False, local_builds=[build(model)])})
    assert instances(off)[0]["hash"] == instances(plain)[0]["hash"]
    assert any("hf_hub_offline false" in r for r in off["reasons"])


def test_a_users_own_hf_hub_offline_env_is_kept():
    model = model_of(samples.h100x8())
    fleet = plan_fleet(
        {
            "h1": host(
                samples.h100x8(), "10.0.0.1", choices={"env": {"HF_HUB_OFFLINE": "0"}}, local_builds=[build(model)]
            )
        }
    )
    assert instances(fleet)[0]["env"]["HF_HUB_OFFLINE"] == "0"
    assert any("HF_HUB_OFFLINE=0 itself" in r for r in instances(fleet)[0]["reasons"])


@pytest.mark.parametrize(
    "value, fragment",
    [
        pytest.param("sometimes", "'sometimes'", id="word"),
        pytest.param(1, "1", id="number"),
        # What -e serve_hf_hub_offline=... or a careless inventory gives: refused, never read as true.
        pytest.param("yes please", "'yes please'", id="words"),
        pytest.param(["true"], "['true']", id="a-list"),
        pytest.param({"offline": True}, "{'offline': True}", id="a-dict"),
        pytest.param("/srv/hf", "'/srv/hf'", id="a-path"),
        pytest.param("tr\nue", "'tr\\nue'", id="a-line-break"),
        pytest.param("$(id)", "'$(id)'", id="shell"),
    ],
)
def test_a_bad_hf_hub_offline_is_refused_naming_the_host_and_the_choices(value, fragment):
    with pytest.raises(PlanError) as exc:
        plan_fleet({"h1": host(samples.h100x8(), "10.0.0.1", hf_hub_offline=value)})
    assert exc.value.details == {"host": "h1", "option": "hf_hub_offline"}
    assert "hf_hub_offline %s on host h1" % fragment in exc.value.msg
    assert "auto" in exc.value.msg and "true" in exc.value.msg and "false" in exc.value.msg


def test_a_cell_whose_hosts_disagree_on_hf_hub_offline_is_refused():
    with pytest.raises(PlanError) as exc:
        plan_fleet(h100_cell({"hf_hub_offline": True}, {"hf_hub_offline": False}))
    assert exc.value.details == {"cell": "pair", "option": "hf_hub_offline"}
    assert "true on h100-a" in exc.value.msg and "false on h100-b" in exc.value.msg


@pytest.mark.parametrize(
    "builds",
    [
        pytest.param("deepseek-ai/DeepSeek-V4-Flash", id="a-string"),
        pytest.param([{"model_id": "deepseek-ai/DeepSeek-V4-Flash"}], id="no-cache-dir"),
        pytest.param([{"model_id": "deepseek-ai/DeepSeek-V4-Flash", "cache_dir": "relative/hf"}], id="relative"),
        pytest.param([{"model_id": "no-org", "cache_dir": CACHE}], id="no-org"),
    ],
)
def test_bad_local_builds_are_refused_naming_the_host_and_the_key(builds):
    with pytest.raises(PlanError) as exc:
        plan_fleet({"h1": host(samples.h100x8(), "10.0.0.1", local_builds=builds)})
    assert exc.value.details == {"host": "h1", "option": "local_builds"}
    assert "hosts.h1.local_builds" in exc.value.msg and "cache_dir" in exc.value.msg


def test_fleet_plans_documentation_describes_every_host_key():
    from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import HOST_KEYS
    from ansible_collections.llmfleet.serving.plugins.modules import fleet_plan

    for key in HOST_KEYS:
        assert re.search(r"- C\(%s\) (\(required\) )?-" % key, fleet_plan.DOCUMENTATION), key
