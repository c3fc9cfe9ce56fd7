#!/usr/bin/env bash
# Build llmfleet-testbed/router-host:latest (Debian bookworm: systemd as PID 1, HAProxy from the distribution,
# python3-aiohttp for the engine emulator backends; router-host/) with lib/debootstrap-image.sh. Cached by
# recipe hash like the other testbed images: a rebuild happens only when router-host/ or the scripts change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${LLMFLEET_TESTBED_CACHE:-/var/cache/llmfleet-testbed}"
bash "$here/ensure-docker.sh"
mkdir -p "$cache"
exec 9> "$cache/build.lock"
flock 9
bash "$here/lib/debootstrap-image.sh" llmfleet-testbed/router-host:latest "$here/router-host/packages" \
  "$here/router-host/customize.sh"
