"""The one endpoint rule (verify and benchmark): where a client on the host, or off it, reaches a plan's port."""

import pytest
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.module_utils._endpoint import EndpointError, endpoint_url
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan


def _plan(**choices):
    return build_plan(samples.b200x8(), **choices)


def test_a_port_on_every_interface_is_loopback_on_the_host_and_the_host_address_elsewhere():
    plan = _plan(port=8100)
    assert endpoint_url(plan) == "http://127.0.0.1:8100"
    assert endpoint_url(plan, from_host=False, host_address="10.0.0.11") == "http://10.0.0.11:8100"


def test_a_port_published_on_one_address_is_reached_there_from_the_host_too():
    # 127.0.0.1 would be refused: docker publishes the port on 10.0.0.5 only.
    plan = _plan(publish_address="10.0.0.5")
    assert endpoint_url(plan) == "http://10.0.0.5:8000"
    assert endpoint_url(plan, from_host=False, host_address="gpu-7.example") == "http://10.0.0.5:8000"


def test_ipv6_addresses_are_bracketed():
    assert endpoint_url(_plan(publish_address="fd00::5")) == "http://[fd00::5]:8000"
    assert endpoint_url(_plan(), from_host=False, host_address="fd00::6") == "http://[fd00::6]:8000"


def test_a_loopback_only_port_is_refused_for_a_client_off_the_host():
    plan = _plan(publish_address="127.0.0.1")
    assert endpoint_url(plan) == "http://127.0.0.1:8000"
    with pytest.raises(EndpointError, match="published on 127.0.0.1 only .*serve_publish_address"):
        endpoint_url(plan, from_host=False, host_address="10.0.0.11")


def test_without_a_port_or_an_address_the_error_says_what_is_missing():
    with pytest.raises(EndpointError, match="has no port"):
        endpoint_url({"served_model_name": "x"})
    with pytest.raises(EndpointError, match="pass the host's address"):
        endpoint_url(_plan(), from_host=False)
