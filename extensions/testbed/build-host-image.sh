#!/usr/bin/env bash
# build-host-image.sh NAME: build llmfleet-testbed/NAME:latest from extensions/testbed/NAME/ (its `packages` list and
# its `customize.sh`) with lib/debootstrap-image.sh, on Debian bookworm with systemd as PID 1. For the test hosts
# a scenario adds as one more platform (testbed_image: llmfleet-testbed/NAME:latest):
#   router-host    HAProxy from the distribution, python3-aiohttp for the emulator backends (scenarios router, rollout)
#   registry-host  docker-registry 2.8 from the distribution on plain-HTTP :5000 (scenario rollout: rollout-registry;
#                  the test hosts' dockerd trust it through prepare-host.sh, LLMFLEET_TESTBED_INSECURE_REGISTRIES)
# Cached by recipe hash like the other testbed images: a rebuild happens only when NAME/ or the scripts change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="${1:-}"
if ! [[ "$name" =~ ^[a-z0-9][a-z0-9-]*$ ]] || [ ! -f "$here/$name/packages" ] || [ ! -f "$here/$name/customize.sh" ]; then
  echo "usage: $0 NAME, where extensions/testbed/NAME/ holds packages and customize.sh (router-host, registry-host);" \
    "got '${name}'" >&2
  exit 2
fi
cache="${LLMFLEET_TESTBED_CACHE:-/var/cache/llmfleet-testbed}"
bash "$here/ensure-docker.sh"
mkdir -p "$cache"
exec 9> "$cache/build.lock"
flock 9
bash "$here/lib/debootstrap-image.sh" "llmfleet-testbed/$name:latest" "$here/$name/packages" "$here/$name/customize.sh"
