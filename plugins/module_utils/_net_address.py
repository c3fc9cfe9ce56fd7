# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses that go into a URL or a listener's --bind: one check of what is accepted, one way to write them.

Used by the endpoint URLs (_endpoint.py) and the weights role's blob servers (filters llmfleet.serving.url_host and
llmfleet.serving.address_problem). A value that is not a host name or an IP address (a newline, a space, `../`, a
leading `-`, `$(...)`) would otherwise reach an HTTP request line or a command's argument list unchecked.
"""

from __future__ import annotations

import ipaddress
import re

# A DNS host name (RFC 1123 labels: letters, digits, '-' inside a label, labels joined by '.').
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)


def _ip(value):
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def address_problem(value):
    """'' when VALUE is a host name, an IPv4 address or an IPv6 address; else what is wrong and what would work."""
    if not isinstance(value, str) or not value:
        return "is not a host name or an IP address: give a host name, an IPv4 address or an IPv6 address"
    if "%" in value:
        return (
            "has an IPv6 zone ('%...'), which a URL cannot carry unescaped: give a host name, an IPv4 address or "
            "a global or unique-local IPv6 address"
        )
    if _ip(value) is not None or _HOST_NAME.match(value):
        return ""
    return (
        "is not a host name or an IP address: give a host name (letters, digits, '-' and '.'), "
        "an IPv4 address or an IPv6 address"
    )


def url_host(address):
    """ADDRESS as the host part of a URL: an IPv6 address in brackets, anything else as it is."""
    ip = _ip(address)
    if ip is None:
        return address  # a host name
    return "[%s]" % ip.compressed if ip.version == 6 else ip.compressed
