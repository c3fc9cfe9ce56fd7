#!/usr/bin/env bash
# host-address.sh NAME [NETWORK]: print the test host NAME's IPv4 address on NETWORK (default
# $LLMFLEET_TESTBED_NETWORK, else llmfleet-testbed): the address other test hosts on that network reach
# it at (a cell's head address, serve_address). Inside the host it is eth0's (ansible_default_ipv4).
set -euo pipefail
name="$1" network="${2:-${LLMFLEET_TESTBED_NETWORK:-llmfleet-testbed}}"
address="$(docker inspect -f "{{with index .NetworkSettings.Networks \"$network\"}}{{.IPAddress}}{{end}}" "$name" 2>/dev/null || true)"
if [ -z "$address" ]; then
  echo "testbed: $name has no address on network $network (attached to: $(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$name" 2>/dev/null || echo 'no such container'))" >&2
  exit 1
fi
echo "$address"
