"""Which addresses may go into a URL or a --bind (the weights role's blob servers, the endpoint URLs), and how an
IPv6 address is written in a URL."""

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils._net_address import address_problem, url_host


@pytest.mark.parametrize(
    "value",
    ["seed", "gpu-07.fleet.example.com", "10.0.0.2", "0.0.0.0", "2001:db8::5", "::1", "::", "fd00:1::a"],  # nosec B104
)
def test_host_names_and_ip_addresses_are_accepted(value):
    assert address_problem(value) == ""


@pytest.mark.parametrize(
    "value, says",
    [
        ("10.0.0.2\nHost: evil", "is not a host name or an IP address"),
        ("seed.example.com\n", "is not a host name or an IP address"),  # a trailing newline, too
        ("../etc", "is not a host name or an IP address"),
        ("--bind=0.0.0.0", "is not a host name or an IP address"),
        ("0.0.0.0 --port 1", "is not a host name or an IP address"),
        ("$(id)", "is not a host name or an IP address"),
        ("-seed", "is not a host name or an IP address"),
        ("seed_1", "is not a host name or an IP address"),
        ("a" * 64 + ".example.com", "is not a host name or an IP address"),  # a label longer than 63
        ("fe80::1%eth0", "has an IPv6 zone"),
        ("", "is not a host name or an IP address"),
        (None, "is not a host name or an IP address"),
        (8700, "is not a host name or an IP address"),
    ],
)
def test_anything_else_is_refused_saying_what_would_work(value, says):
    problem = address_problem(value)
    assert problem.startswith(says)
    assert "host name" in problem and "IPv6 address" in problem


@pytest.mark.parametrize(
    "address, host",
    [
        ("2001:db8:0:0:0:0:0:5", "[2001:db8::5]"),
        ("::1", "[::1]"),
        ("10.0.0.2", "10.0.0.2"),
        ("seed.example.com", "seed.example.com"),
    ],
)
def test_an_ipv6_address_is_bracketed_in_a_url_and_nothing_else_is(address, host):
    assert url_host(address) == host
