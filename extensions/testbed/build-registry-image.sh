#!/usr/bin/env bash
# Build llmfleet-testbed/registry-host:latest (Debian bookworm: systemd as PID 1, docker-registry 2.8 from the
# distribution on plain-HTTP :5000; registry-host/) with lib/debootstrap-image.sh. Cached by recipe hash like the
# other testbed images: a rebuild happens only when registry-host/ or the scripts change. A scenario runs it as a
# platform with testbed_image: llmfleet-testbed/registry-host:latest (scenario rollout: rollout-registry), and the
# test hosts' dockerd trust it through prepare-host.sh (LLMFLEET_TESTBED_INSECURE_REGISTRIES).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${LLMFLEET_TESTBED_CACHE:-/var/cache/llmfleet-testbed}"
bash "$here/ensure-docker.sh"
mkdir -p "$cache"
exec 9> "$cache/build.lock"
flock 9
bash "$here/lib/debootstrap-image.sh" llmfleet-testbed/registry-host:latest "$here/registry-host/packages" \
  "$here/registry-host/customize.sh"
