"""daemon_json.py REGISTRY...: merge plain-HTTP registries into a dockerd /etc/docker/daemon.json.

Reads the current daemon.json on stdin (empty when the host has none) and prints the merged file: the given
HOST:PORT entries added to "insecure-registries" (kept in order, none twice), every other key as it was. The
output is canonical (sorted keys, two-space indent), so prepare-host.sh compares bytes: a second run writes nothing
and does not restart the host's dockerd. Exit 2 with a message naming the problem for a daemon.json that is not a
JSON object or a registry that is not HOST:PORT. Standard library only (runs on the controller).
"""

import json
import re
import sys

_REGISTRY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}$")


def merge(text, registries):
    """The daemon.json text with REGISTRIES in insecure-registries."""
    for registry in registries:
        if not _REGISTRY.match(registry):
            raise ValueError(
                "LLMFLEET_TESTBED_INSECURE_REGISTRIES: %r is not HOST:PORT (e.g. rollout-registry:5000)" % registry
            )
    current = json.loads(text) if text.strip() else {}
    if not isinstance(current, dict):
        raise ValueError("/etc/docker/daemon.json holds %s, not a JSON object" % type(current).__name__)
    have = current.get("insecure-registries", [])
    if not isinstance(have, list):
        raise ValueError("/etc/docker/daemon.json: insecure-registries is %r, not a list" % (have,))
    merged = dict(current)
    merged["insecure-registries"] = have + [r for i, r in enumerate(registries) if r not in have + registries[:i]]
    return json.dumps(merged, indent=2, sort_keys=True) + "\n"


def main(argv):
    try:
        sys.stdout.write(merge(sys.stdin.read(), argv))
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        sys.stderr.write("testbed: %s\n" % err)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
