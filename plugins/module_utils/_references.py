# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks for strings that name things outside the planner: image references, host paths, addresses.

Each ``*_problem`` function returns why the value cannot be used (a phrase without the option's
name, so the caller names the option or role variable the user set), or None when it can.
Standard library only: this file ships to GPU hosts inside the modules.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re

# --- image references ---------------------------------------------------------------------------
# Docker's reference grammar (github.com/distribution/reference, regexp.go):
#   reference      := name [ ":" tag ] [ "@" digest ]
#   name           := [domain "/"] remote-name;  remote-name := path-component ("/" path-component)*
#   path-component := [a-z0-9]+ (separator [a-z0-9]+)*;  separator := [_.] | "__" | "-"+
#   domain         := host [":" port];  tag := [\w][\w.-]{0,127};  digest := algorithm ":" hex{32,}
# As Docker's normalisation does, the first component is a registry only when it holds '.' or ':'
# or is 'localhost'; otherwise it is a (lowercase) path component of a Docker Hub name, which is
# why 'UPPER/x' is refused rather than read as a registry called UPPER.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_PATH_RE = re.compile(r"^%s(?:/%s)*$" % (_PATH_COMPONENT, _PATH_COMPONENT))
_DOMAIN_RE = re.compile(r"^%s$" % _DOMAIN)
_TAG_RE = re.compile(r"^%s$" % _TAG)
_DIGEST_RE = re.compile(r"^%s$" % _DIGEST)
# Docker's limit on the name part (without tag and digest).
IMAGE_NAME_MAX = 255
IMAGE_RULE = (
    "an image reference is [REGISTRY[:PORT]/]PATH[:TAG][@sha256:DIGEST]: PATH is lowercase letters and digits "
    "separated by '.', '_', '__', '-' or '/', TAG is 1-128 letters, digits, '_', '.' or '-' not starting with "
    "'.' or '-', e.g. vllm/vllm-openai:deepseekv4-cu130 or registry.local:5000/team/img@sha256:<64 hex digits>"
)


def image_problem(image):
    """Why ``image`` is not a valid image reference, or None."""
    if not isinstance(image, str) or not image:
        return "must be a non-empty string; %s" % IMAGE_RULE
    rest, at, digest = image.partition("@")
    if at and not _DIGEST_RE.match(digest):
        return "has digest %r, which is not ALGORITHM:HEX (at least 32 hex digits); %s" % (digest, IMAGE_RULE)
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    name, tag = rest, None
    if colon > slash:  # a ':' after the last '/' starts the tag (an earlier one is a registry port)
        name, tag = rest[:colon], rest[colon + 1 :]
        if not tag:
            return "ends its name with ':' but has no tag after it; %s" % IMAGE_RULE
        if not _TAG_RE.match(tag):
            return (
                "has tag %r, which is not 1-128 letters, digits, '_', '.' or '-' starting with a letter, "
                "digit or '_'; %s" % (tag, IMAGE_RULE)
            )
    if not name:
        return "has no name; %s" % IMAGE_RULE
    if len(name) > IMAGE_NAME_MAX:
        return "has a name longer than %d characters" % IMAGE_NAME_MAX
    first, sep, remainder = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN_RE.match(first):
            return "has registry %r, which is not HOST[:PORT]; %s" % (first, IMAGE_RULE)
        path = remainder
    else:
        path = name
    if not _PATH_RE.match(path):
        hint = ""
        if path != path.lower():
            hint = " (repository names are lowercase)"
        elif path.startswith("-"):
            hint = " (it starts with '-', so a container CLI would read it as an option)"
        return "has repository path %r, which is not valid%s; %s" % (path, hint, IMAGE_RULE)
    return None


def image_tag(image):
    """The tag of a valid reference, 'latest' when it names none (Docker's default)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


# --- host directories mounted into the engine -------------------------------------------------------
# Mounted read-write into a container that runs as root: the host's root or a system directory
# there would let the engine (or anything that breaks into it) rewrite the host.
SYSTEM_DIRS = (
    "/",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/boot",
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/var",
    "/root",
    "/home",
    "/tmp",
)
# ... and nothing below these either (configuration, binaries, kernel and device interfaces).
SYSTEM_TREES = ("/etc", "/usr", "/proc", "/sys", "/dev", "/boot")
HOST_DIR_MAX = 1024


def host_dir_problem(path, example):
    """Why ``path`` cannot be a host directory bind-mounted read-write (docker -v HOST:CONTAINER), or None."""
    if not isinstance(path, str) or not path:
        return "must be a non-empty absolute path such as %s" % example
    if not path.startswith("/"):
        return (
            "is not an absolute path (the container unit runs as root, where ~ is /root and a relative path "
            "has no fixed base); use an absolute directory such as %s" % example
        )
    if len(path) > HOST_DIR_MAX:
        return "is longer than %d characters" % HOST_DIR_MAX
    if ":" in path or "," in path:
        return (
            "holds '%s', which a bind mount (-v HOST:CONTAINER[:OPTIONS], --mount a=b,c=d) reads as a "
            "separator; use a directory without ':' and ','" % (":" if ":" in path else ",")
        )
    normal = posixpath.normpath(path)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if normal != path:
        return "is not in normal form (no '.', '..', '//' or trailing '/'); write it as %s" % normal
    if path in SYSTEM_DIRS:
        return (
            "is the host's root or a system directory, which would be mounted read-write into the engine's "
            "container; use a directory of its own such as %s" % example
        )
    for tree in SYSTEM_TREES:
        if path.startswith(tree + "/"):
            return (
                "is under %s, a system directory that must not be mounted read-write into the engine's "
                "container; use a directory of its own such as %s" % (tree, example)
            )
    return None


# --- addresses -------------------------------------------------------------------------------------
def address_problem(address):
    """Why ``address`` is not a literal IPv4/IPv6 address to publish a port on, or None."""
    if not isinstance(address, str):
        return "must be a string holding an IPv4 or IPv6 address"
    if "%" in address:
        return "holds a zone index ('%'); publish on an address without one, e.g. 127.0.0.1 or ::1"
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return (
            "is not an IPv4 or IPv6 address (e.g. 127.0.0.1, 10.0.0.5 or ::1; a host name is not resolved "
            "here); leave it empty to publish on all interfaces"
        )
    return None


def port_publish(address, port):
    """docker -p value for ``port`` on ``address`` ('' = all interfaces): '8000:8000', '127.0.0.1:8000:8000',
    '[::1]:8000:8000' (Docker needs the brackets to tell an IPv6 address from the ports)."""
    if not address:
        return "%d:%d" % (port, port)
    ip = ipaddress.ip_address(address)
    shown = "[%s]" % ip.compressed if ip.version == 6 else ip.compressed
    return "%s:%d:%d" % (shown, port, port)
