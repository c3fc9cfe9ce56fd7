"""The router role's input checks (router_servers / router_port filters): refused before any change, the variable named."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.filter.router import router_port, router_servers


def ep(
    host="gpu-a",
    port=8000,
    instance="llmfleet-0",
    engine="vllm",
    health_path="/health",
    address=None,
    model="deepseek-v4-flash",
):
    return {
        "host": host,
        "address": address or "10.0.0.%d" % (sum(map(ord, host)) % 250 + 1),
        "port": port,
        "instance": instance,
        "engine": engine,
        "served_model_name": model,
        "health_path": health_path,
        "models_path": "/v1/models",
    }


def test_servers_are_named_host_instance_in_order():
    servers = router_servers(
        [ep("gpu-a", 8000), ep("gpu-a", 8001, instance="llmfleet-1"), ep("gpu-b", engine="sglang")]
    )
    assert [s["name"] for s in servers] == ["gpu-a-llmfleet-0", "gpu-a-llmfleet-1", "gpu-b-llmfleet-0"]
    assert servers[1]["port"] == 8001 and servers[2]["engine"] == "sglang"
    assert all(s["health_path"] == "/health" for s in servers)


def test_instance_already_prefixed_with_host_is_not_doubled():
    assert router_servers([ep("gpu-a", instance="gpu-a-0")])[0]["name"] == "gpu-a-0"


def test_hostile_names_cannot_add_config_words():
    name = router_servers([ep("gpu a\nbackend evil", instance="x;y")])[0]["name"]
    assert " " not in name and "\n" not in name and ";" not in name


@pytest.mark.parametrize("value", [[], None])
def test_empty_endpoints_say_run_fleet_plan(value):
    with pytest.raises(AnsibleFilterError, match=r"router_endpoints is empty: run llmfleet.serving.fleet_plan first"):
        router_servers(value)


def test_health_path_the_engine_lacks_is_refused():
    with pytest.raises(AnsibleFilterError) as err:
        router_servers([ep(health_path="/v1/models")])
    msg = str(err.value)
    assert "router_endpoints[0].health_path is '/v1/models'" in msg
    assert "/health" in msg and "router_allow_custom_health_path" in msg


def test_custom_health_path_allowed_when_asked():
    assert router_servers([ep(health_path="/ready")], allow_custom_health_path=True)[0]["health_path"] == "/ready"


def test_sglang_health_generate_is_known():
    assert router_servers([ep(engine="sglang", health_path="/health_generate")])[0]["health_path"] == "/health_generate"


def test_unknown_engine_refused_without_custom():
    with pytest.raises(AnsibleFilterError, match=r"router_endpoints\[0\].engine is 'trtllm'"):
        router_servers([ep(engine="trtllm")])


def test_path_that_would_break_the_config_is_refused_even_when_custom():
    with pytest.raises(AnsibleFilterError, match=r"health_path is '/health\\n"):
        router_servers([ep(health_path="/health\n    server x 1.2.3.4:1")], allow_custom_health_path=True)


def test_duplicate_server_names_refused():
    with pytest.raises(
        AnsibleFilterError,
        match=r"router_endpoints\[1\] and router_endpoints\[0\] both become the "
        r"HAProxy server 'gpu-a-llmfleet-0'",
    ):
        router_servers([ep("gpu-a", 8000), ep("gpu-a", 8001)])


def test_same_address_twice_refused():
    with pytest.raises(AnsibleFilterError, match=r"both point at 10.0.0.9:8000"):
        router_servers([ep("gpu-a", address="10.0.0.9"), ep("gpu-b", address="10.0.0.9")])


@pytest.mark.parametrize("port", [0, 70000, "http", True, None, -1])
def test_bad_endpoint_ports_refused(port):
    with pytest.raises(AnsibleFilterError, match=r"router_endpoints\[0\].port is .*1-65535"):
        router_servers([ep(port=port)])


def test_bad_address_refused():
    with pytest.raises(AnsibleFilterError, match=r"router_endpoints\[0\].address is '10.0.0.1 backup'"):
        router_servers([ep(address="10.0.0.1 backup")])


def test_mixed_models_refused():
    with pytest.raises(AnsibleFilterError, match="mixes served_model_name values a, b"):
        router_servers([ep("gpu-a", model="a"), ep("gpu-b", model="b")])


def test_mixed_health_paths_refused():
    with pytest.raises(AnsibleFilterError, match="mixes health_path values /health, /ping"):
        router_servers([ep("gpu-a"), ep("gpu-b", health_path="/ping")])


def test_not_a_list_refused():
    with pytest.raises(AnsibleFilterError, match="router_endpoints must be a list"):
        router_servers({"host": "a"})


def test_missing_host_refused():
    entry = ep()
    del entry["host"]
    with pytest.raises(AnsibleFilterError, match=r"router_endpoints\[0\] has no host"):
        router_servers([entry])


@pytest.mark.parametrize("port", [0, 65536, "x", True])
def test_router_port_refused(port):
    with pytest.raises(AnsibleFilterError, match=r"router_stats_port is .*1-65535"):
        router_port(port, "router_stats_port")


def test_router_port_accepts_strings_of_digits():
    assert router_port("8000") == 8000
