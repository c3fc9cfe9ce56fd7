"""The fleet planner: packed replicas, multi-node cells and the refusals, on the facts of whole fleets."""

import pytest
from helpers import gpu_fact_samples as samples
from helpers.seed import SEED, parse_docker_run

from ansible_collections.llmfleet.serving.plugins.module_utils._engine_flags import ENGINE_FLAGS
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import ENGINES

INSTANCE_KEYS = ("name", "index", "gpu_ids", "role", "cell", "serves_http")
SEED_SGLANG_B200, SEED_SGLANG_H100, SEED_VLLM_B200 = SEED


def host(gpus, address, **kw):
    entry = {"gpus": gpus, "address": address}
    entry.update(kw)
    return entry


def one(gpus, **kw):
    """The fleet plan of one host named h1 at 10.0.0.1."""
    return plan_fleet({"h1": host(gpus, "10.0.0.1", **kw)})


def h100_cell(**kw):
    hosts = {
        "h100-a": host(samples.gpus("H100", 4), "10.0.1.1", cell="pair"),
        "h100-b": host(samples.gpus("H100", 4), "10.0.1.2", cell="pair"),
    }
    for name, extra in kw.items():
        hosts[name.replace("_", "-")].update(extra)
    return hosts


def refused(hosts, order=None):
    with pytest.raises(PlanError) as exc:
        plan_fleet(hosts, order)
    return exc.value


def plan_of(instance):
    return {k: v for k, v in instance.items() if k not in INSTANCE_KEYS}


# ---------------------------------------------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "gpus, engine, replicas, tp",
    [
        pytest.param(samples.b200x8, "vllm", 2, 4, id="8xB200-vLLM-TP4"),
        pytest.param(samples.h200x8, "sglang", 2, 4, id="8xH200-SGLang-FP8-TP4"),
        pytest.param(samples.h100x8, "sglang", 1, 8, id="8xH100-SGLang-TP8"),
    ],
)
def test_auto_packs_floor_gpus_over_tp_replicas(gpus, engine, replicas, tp):
    fleet = one(gpus(), choices={"engine": engine})
    instances = fleet["hosts"]["h1"]["instances"]
    assert len(instances) == replicas
    assert all(i["tensor_parallel_size"] == tp and i["engine"] == engine for i in instances)
    assert fleet["hosts"]["h1"]["gpus_used"] == 8 and fleet["hosts"]["h1"]["gpus_idle"] == []
    assert len(fleet["endpoints"]) == replicas


def test_packed_vllm_replicas_own_their_gpus_ports_and_names():
    first, second = one(samples.b200x8(), choices={"engine": "vllm"})["hosts"]["h1"]["instances"]
    assert (first["name"], first["port"], first["gpu_ids"]) == ("llmfleet-deepseek", 8000, [0, 1, 2, 3])
    assert first["container"]["name"] == "llmfleet-deepseek"
    assert (second["name"], second["port"], second["gpu_ids"]) == ("llmfleet-deepseek-1", 8001, [4, 5, 6, 7])
    assert second["container"]["name"] == "llmfleet-deepseek-1"
    # docker reads --gpus as CSV: the double quotes keep the list one field; podman gets one CDI device per id
    assert second["container"]["gpus"] == '"device=4,5,6,7"'
    assert second["container"]["gpu_ids"] == [4, 5, 6, 7]
    assert second["container"]["ports"] == ["8001:8001"]
    assert first["hash"] != second["hash"]


def test_packed_vllm_replica_is_the_seed_command_with_its_own_port_and_gpus():
    image, env, command = parse_docker_run(SEED_VLLM_B200)
    first, second = one(samples.b200x8(), choices={"engine": "vllm"})["hosts"]["h1"]["instances"]
    # vLLM listens on 8000 by default: replica 0 needs no flag, replica 1 adds --port
    assert (first["image"], first["env"], first["command"]) == (image, env, command)
    assert second["command"] == command + ["--port", "8001"]
    assert second["docker_run"][:8] == [
        "docker",
        "run",
        "-d",
        "--gpus",
        '"device=4,5,6,7"',
        "--ipc=host",
        "-p",
        "8001:8001",
    ]


def test_packed_sglang_replicas_get_their_own_nccl_port():
    first, second = one(samples.h200x8(), choices={"engine": "sglang"})["hosts"]["h1"]["instances"]
    assert first["command"][-2:] == ["--nccl-port", "20000"]
    assert second["command"][-2:] == ["--nccl-port", "20001"]
    assert second["command"][second["command"].index("--port") + 1] == "8001"
    assert (
        one(samples.h200x8(), choices={"engine": "sglang"}, dist_port=31000)["hosts"]["h1"]["instances"][1]["command"][
            -1
        ]
        == "31001"
    )


@pytest.mark.parametrize(
    "block, gpus, engine",
    [
        pytest.param(0, samples.b200x8, "sglang", id="8xB200-sglang"),
        pytest.param(1, samples.h100x8, "sglang", id="8xH100-sglang"),
        pytest.param(2, samples.b200x8, "vllm", id="8xB200-vllm"),
    ],
)
def test_one_replica_per_host_is_the_seeds_docker_run_token_for_token(block, gpus, engine):
    expected = [t.replace("~/", "/root/", 1) if t.startswith("~/") else t for t in SEED[block]]
    (instance,) = one(gpus(), choices={"engine": engine}, replicas_per_host=1)["hosts"]["h1"]["instances"]
    assert instance["docker_run"] == expected
    assert (instance["name"], instance["gpu_ids"], instance["container"]["gpus"]) == ("llmfleet-deepseek", "all", "all")


@pytest.mark.parametrize(
    "gpus, choices",
    [
        pytest.param(
            samples.b200x8, {"engine": "vllm", "port": 9000, "extra_args": ["--enable-log-requests"]}, id="B200"
        ),
        pytest.param(samples.h100x8, {}, id="H100-auto"),
        pytest.param(samples.h200x4, {"served_model_name": "dsv4", "env": {"NCCL_DEBUG": "WARN"}}, id="H200x4"),
    ],
)
def test_a_host_with_one_replica_gets_exactly_serving_plans_plan(gpus, choices):
    fleet = one(gpus(), choices=dict(choices), replicas_per_host=1)
    (instance,) = fleet["hosts"]["h1"]["instances"]
    assert plan_of(instance) == build_plan(gpus=gpus(), **choices)
    assert (instance["role"], instance["cell"], instance["serves_http"], instance["index"]) == (
        "standalone",
        None,
        True,
        0,
    )


def test_one_replica_of_tp4_on_8_gpus_reports_the_idle_gpus():
    fleet = one(samples.b200x8(), choices={"engine": "vllm"}, replicas_per_host=1)
    entry = fleet["hosts"]["h1"]
    assert (entry["gpus_total"], entry["gpus_used"], entry["gpus_idle"]) == (8, 4, [4, 5, 6, 7])
    assert "4 idle (GPUs 4-7)" in entry["summary"]
    assert any("GPUs 4-7 idle" in r for r in fleet["reasons"])


def test_endpoints_list_every_replica_with_its_address_and_paths():
    fleet = plan_fleet({"b": host(samples.b200x8(), "10.0.0.9", choices={"engine": "vllm"})})
    assert fleet["endpoints"] == [
        {
            "host": "b",
            "address": "10.0.0.9",
            "port": 8000 + i,
            "instance": name,
            "engine": "vllm",
            "served_model_name": "deepseek",
            "health_path": "/health",
            "models_path": "/v1/models",
        }
        for i, name in enumerate(("llmfleet-deepseek", "llmfleet-deepseek-1"))
    ]


def test_user_container_name_gets_the_replica_suffix():
    instances = one(samples.b200x8(), choices={"container_name": "dsv4"})["hosts"]["h1"]["instances"]
    assert [i["name"] for i in instances] == ["dsv4", "dsv4-1"]


def names_ports_gpus(replicas, tp):
    fleet = one(samples.b200x8(), replicas_per_host=replicas, choices={"engine": "vllm", "tensor_parallel_size": tp})
    return [(i["container"]["name"], i["port"], i["gpu_ids"]) for i in fleet["hosts"]["h1"]["instances"]]


def test_replica_0_has_the_name_of_a_one_replica_host_and_replicas_1_on_get_a_suffix():
    # Replica 0 is named as the seed's one container on every host: growing 1 -> N only adds containers and a
    # shrink N -> M removes exactly NAME-M .. NAME-(N-1). Ports and GPU sets still follow the index.
    assert names_ports_gpus(1, 4) == [("llmfleet-deepseek", 8000, "all")]
    assert names_ports_gpus(2, 4) == [
        ("llmfleet-deepseek", 8000, [0, 1, 2, 3]),
        ("llmfleet-deepseek-1", 8001, [4, 5, 6, 7]),
    ]
    assert names_ports_gpus(3, 2) == [
        ("llmfleet-deepseek", 8000, [0, 1]),
        ("llmfleet-deepseek-1", 8001, [2, 3]),
        ("llmfleet-deepseek-2", 8002, [4, 5]),
    ]


def hashes(replicas, tp):
    fleet = one(samples.b200x8(), replicas_per_host=replicas, choices={"engine": "vllm", "tensor_parallel_size": tp})
    return {i["container"]["name"]: i["hash"] for i in fleet["hosts"]["h1"]["instances"]}


@pytest.mark.parametrize("before, after, tp", [(2, 1, 4), (3, 2, 2)])
def test_a_shrink_by_one_replica_drops_exactly_one_instance_name(before, after, tp):
    old = {name for name, _port, _gpus in names_ports_gpus(before, tp)}
    new = {name for name, _port, _gpus in names_ports_gpus(after, tp)}
    assert new < old and old - new == {"llmfleet-deepseek-%d" % after}


def test_a_shrink_restarts_a_kept_replica_only_when_it_becomes_the_one_replica_with_every_gpu():
    # 3 -> 2: the two left keep GPU sets, ports and names, so their plans (hashes) do not move: no restart.
    three, two = hashes(3, 2), hashes(2, 2)
    assert {name: three[name] for name in two} == two
    # 2 -> 1: the last replica becomes the seed's --gpus all container, a new plan under the same name.
    assert hashes(1, 4)["llmfleet-deepseek"] != hashes(2, 4)["llmfleet-deepseek"]


def test_a_replica_name_too_long_only_with_its_suffix_is_refused_naming_container_name():
    base = "d" * 128  # valid alone (replica 0 and a one-replica host use it), 130 characters as replica 1
    assert one(samples.b200x8(), replicas_per_host=1, choices={"container_name": base})["hosts"]["h1"]["instances"]
    exc = refused({"h1": host(samples.b200x8(), "10.0.0.1", choices={"container_name": base})})
    assert "with the replica suffix -1 gives" in str(exc) and "(130 characters), which is not a valid name" in str(exc)
    assert exc.details["option"] == "container_name"


# ---------------------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------------------
def test_one_4xh100_host_is_refused_but_two_form_an_sglang_tp8_cell():
    with pytest.raises(PlanError, match="weights do not fit"):
        build_plan(gpus=samples.gpus("H100", 4), engine="sglang")
    fleet = plan_fleet(h100_cell(), ["h100-a", "h100-b"])
    head = fleet["hosts"]["h100-a"]["instances"][0]
    worker = fleet["hosts"]["h100-b"]["instances"][0]
    assert head["tensor_parallel_size"] == worker["tensor_parallel_size"] == 8
    tail = ["--nnodes", "2", "--node-rank", "%d", "--dist-init-addr", "10.0.1.1:20000", "--dist-timeout", "3600"]
    assert head["command"][-8:] == [t.replace("%d", "0") for t in tail]
    assert worker["command"][-8:] == [t.replace("%d", "1") for t in tail]
    assert head["command"][head["command"].index("--tp") + 1] == "8"
    assert (head["role"], worker["role"], head["serves_http"], worker["serves_http"]) == ("head", "worker", True, False)
    assert head["container"]["network"] == "host" and head["container"]["ports"] == []
    assert ["--network", "host"] == head["docker_run"][6:8]
    assert fleet["cells"] == {
        "pair": {
            "hosts": ["h100-a", "h100-b"],
            "head": "h100-a",
            "head_address": "10.0.1.1",
            "dist_port": 20000,
            "gpus": 8,
            "engine": "sglang",
            "tensor_parallel_size": 8,
        }
    }
    assert [e["host"] for e in fleet["endpoints"]] == ["h100-a"]


def test_node_rank_overrides_inventory_order():
    hosts = h100_cell(h100_a={"node_rank": 1}, h100_b={"node_rank": 0})
    fleet = plan_fleet(hosts, ["h100-a", "h100-b"])
    assert fleet["cells"]["pair"]["hosts"] == ["h100-b", "h100-a"]
    assert fleet["hosts"]["h100-b"]["instances"][0]["role"] == "head"
    assert "10.0.1.2:20000" in fleet["hosts"]["h100-a"]["instances"][0]["command"]


def test_without_node_rank_inventory_order_picks_the_head():
    fleet = plan_fleet(h100_cell(), ["h100-b", "h100-a"])
    assert fleet["cells"]["pair"]["head"] == "h100-b"


def test_fabric_interface_sets_nccl_and_gloo_interfaces():
    fleet = plan_fleet(h100_cell(h100_a={"fabric_interface": "ens1f0"}, h100_b={"fabric_interface": "ens1f0"}))
    env = fleet["hosts"]["h100-b"]["instances"][0]["env"]
    assert env == {"GLOO_SOCKET_IFNAME": "ens1f0", "NCCL_SOCKET_IFNAME": "ens1f0", "SGLANG_DSV4_FP4_EXPERTS": "0"}


def test_ipv6_head_address_is_bracketed_in_dist_init_addr():
    fleet = plan_fleet(h100_cell(h100_a={"address": "fd00::1"}, h100_b={"address": "fd00::2"}))
    assert "[fd00::1]:20000" in fleet["hosts"]["h100-b"]["instances"][0]["command"]


def test_vllm_cell_is_data_parallel_with_expert_parallel_and_headless_workers():
    hosts = {
        name: host(samples.b200x8(), "10.0.2.%d" % i, cell="b", choices={"engine": "vllm"})
        for i, name in enumerate(["b0", "b1", "b2"])
    }
    fleet = plan_fleet(hosts, ["b0", "b1", "b2"])
    common = [
        "--data-parallel-size",
        "6",
        "--data-parallel-size-local",
        "2",
        "--data-parallel-address",
        "10.0.2.0",
        "--data-parallel-rpc-port",
        "13345",
    ]
    head, w1, w2 = (fleet["hosts"][n]["instances"][0] for n in ("b0", "b1", "b2"))
    assert "--enable-expert-parallel" in head["command"]
    assert head["command"][-8:] == common
    assert w1["command"][-11:] == common + ["--headless", "--data-parallel-start-rank", "2"]
    assert w2["command"][-3:] == ["--headless", "--data-parallel-start-rank", "4"]
    assert [e["instance"] for e in fleet["endpoints"]] == ["llmfleet-deepseek"]
    assert fleet["endpoints"][0]["host"] == "b0"
    assert fleet["cells"]["b"]["data_parallel_size"] == 6 and fleet["cells"]["b"]["gpus"] == 24
    assert not w1["serves_http"]


def test_every_flag_the_planner_adds_for_replicas_and_cells_is_in_the_flag_catalog():
    for engine, data in ENGINES.items():
        catalog = ENGINE_FLAGS[engine][data["catalog_version"]]
        tokens = (
            data["replica_args"]
            + data["multinode"]["args"]
            + data["multinode"]["worker_args"]
            + data["multinode"]["needs"]
        )
        flags = [t for t in tokens if t.startswith("--")]
        assert flags, engine
        assert [f for f in flags if f not in catalog] == [], engine


def test_mixed_fleet_packs_hosts_and_forms_the_cell():
    hosts = dict(h100_cell())
    hosts["b200"] = host(samples.b200x8(), "10.0.0.1", choices={"engine": "vllm"})
    hosts["h200"] = host(samples.h200x8(), "10.0.0.2")
    fleet = plan_fleet(hosts, ["b200", "h100-a", "h100-b", "h200"])
    assert [(e["host"], e["port"]) for e in fleet["endpoints"]] == [
        ("b200", 8000),
        ("b200", 8001),
        ("h100-a", 8000),
        ("h200", 8000),
        ("h200", 8001),
    ]
    assert fleet["reasons"][-1] == "fleet: 4 hosts, 24 GPUs, 24 serving, 5 endpoints (1 cells)."


# ---------------------------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------------------------
def test_two_heads_in_a_cell_are_refused():
    exc = refused(h100_cell(h100_a={"node_rank": 0}, h100_b={"node_rank": 0}))
    assert "cell pair has two heads: hosts h100-a, h100-b all have node_rank 0" in str(exc)
    assert exc.details["option"] == "node_rank" and exc.details["cell"] == "pair"


def test_a_missing_rank_is_refused():
    exc = refused(h100_cell(h100_a={"node_rank": 0}, h100_b={"node_rank": 2}))
    assert "cell pair: ranks 0, 2 found, rank 1 missing" in str(exc)
    assert "h100-a=0, h100-b=2" in str(exc)


def test_node_rank_on_some_hosts_only_is_refused():
    exc = refused(h100_cell(h100_b={"node_rank": 1}))
    assert "node_rank is set on h100-b but not on h100-a" in str(exc)


def test_a_cell_mixing_gpu_models_is_refused():
    exc = refused(h100_cell(h100_b={"gpus": samples.gpus("H200", 4)}))
    assert str(exc).startswith("cell pair mixes GPU models: H100 on h100-a; H200 on h100-b")


def test_a_cell_mixing_drivers_is_refused():
    exc = refused(h100_cell(h100_b={"gpus": samples.gpus("H100", 4, driver="575.57.08")}))
    assert "cell pair mixes drivers: 575.57.08 on h100-b; 580.159.04 on h100-a" in str(exc)


def test_a_cell_whose_gpus_cannot_hold_the_build_is_refused():
    hosts = {
        "a": host(samples.gpus("H100", 1), "10.0.0.1", cell="tiny"),
        "b": host(samples.gpus("H100", 1), "10.0.0.2", cell="tiny"),
    }
    exc = refused(hosts)
    assert str(exc).startswith("cell tiny, host a: weights do not fit")
    assert "284 GB / tensor_parallel_size 2" in str(exc)
    assert "and the cell has 2: use more hosts in the cell" in str(exc)


def test_replicas_per_host_above_what_the_gpus_hold_is_refused():
    exc = refused({"b": host(samples.b200x8(), "10.0.0.1", replicas_per_host=3, choices={"engine": "vllm"})})
    assert str(exc) == (
        "replicas_per_host 3 on host b: 8 GPUs hold 2 replicas of tensor_parallel_size 4 (each replica owns its "
        "GPUs); use replicas_per_host 2 (or auto), or a smaller tensor_parallel_size"
    )
    assert exc.details == {"host": "b", "option": "replicas_per_host"}


def test_replica_ports_overlapping_the_distributed_ports_are_refused():
    exc = refused({"h": host(samples.h200x8(), "10.0.0.1", dist_port=8001)})
    assert "host h: port 8001 is claimed twice" in str(exc)
    assert "HTTP port of llmfleet-deepseek-1" in str(exc) and "distributed port (dist_port 8001 + index 0)" in str(exc)


def test_a_cell_on_an_engine_the_profile_refuses_is_refused_naming_the_cell():
    exc = refused(h100_cell(h100_a={"choices": {"engine": "vllm"}}, h100_b={"choices": {"engine": "vllm"}}))
    assert str(exc).startswith("cell pair, host h100-a: engine vllm on 4 x H100")
    assert exc.details["cell"] == "pair" and exc.details["host"] == "h100-a"


def test_a_cell_on_a_gpu_the_profile_refuses_is_refused():
    hosts = {n: host(samples.gpus("A100", 8), "10.0.0.%d" % i, cell="amp") for i, n in enumerate(["a", "b"])}
    exc = refused(hosts)
    assert str(exc).startswith("cell amp, host a: gpus: 8 x A100 (ampere, compute capability 8.0) cannot serve")
    assert "What works: B200 (vllm, sglang)" in str(exc)


def test_a_cell_of_one_host_is_refused():
    exc = refused({"solo": host(samples.h100x8(), "10.0.0.1", cell="c")})
    assert "a cell of one is just a host: remove serve_cell" in str(exc)


def test_two_hosts_with_one_address_in_a_cell_are_refused():
    exc = refused(h100_cell(h100_b={"address": "10.0.1.1"}))
    assert "cell pair: hosts h100-a and h100-b have the same address 10.0.1.1" in str(exc)


def test_replicas_on_a_cell_host_are_refused():
    exc = refused(h100_cell(h100_a={"replicas_per_host": 2}))
    assert "replicas_per_host 2 on host h100-a, which is in cell pair" in str(exc)


def test_cell_hosts_with_different_choices_are_refused():
    exc = refused(h100_cell(h100_b={"choices": {"port": 9000}}))
    assert "cell pair: its hosts plan different port (8000 on h100-a; 9000 on h100-b)" in str(exc)


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"replicas_per_host": 0}, "replicas_per_host 0 on host h1 must be 'auto'"),
        ({"node_rank": 0}, "node_rank 0 on host h1, which is in no cell"),
        ({"fabric_interface": "eth0"}, "fabric_interface 'eth0' on host h1, which is in no cell"),
        ({"address": "has space"}, "hosts.h1.address 'has space'"),
        ({"colour": "blue"}, "hosts.h1: key 'colour' is not known"),
        ({"choices": {"gpus": {}}}, "hosts.h1.choices: 'gpus' is not a serving_plan option"),
    ],
)
def test_bad_host_entries_name_the_key(entry, words):
    base = host(samples.h100x8(), "10.0.0.1")
    base.update(entry)
    assert words in str(refused({"h1": base}))


def test_a_host_refusal_names_the_host():
    exc = refused({"old": host(samples.gpus("A100", 8), "10.0.0.1")})
    assert str(exc).startswith("host old: gpus: ")
    assert exc.details["host"] == "old"


def test_numbers_given_as_text_on_the_command_line_are_read_as_numbers():
    # ansible-playbook -e serve_replicas_per_host=1 -e serve_node_rank=0 passes strings.
    packed = one(samples.b200x8(), choices={"engine": "vllm", "tensor_parallel_size": 4}, replicas_per_host="1")
    assert [i["name"] for i in packed["hosts"]["h1"]["instances"]] == ["llmfleet-deepseek"]
    fleet = plan_fleet(h100_cell(h100_a={"node_rank": "1"}, h100_b={"node_rank": "0"}), ["h100-a", "h100-b"])
    assert fleet["hosts"]["h100-b"]["instances"][0]["role"] == "head"
    assert "must be 'auto'" in str(refused({"h1": host(samples.b200x8(), "10.0.0.1", replicas_per_host="two")}))
