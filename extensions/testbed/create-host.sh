#!/usr/bin/env bash
# create-host.sh CONTAINER GPUS [PUBLISHED_PORT]: start a test host (systemd as PID 1, its own dockerd)
# and prepare it as a GPUS node (see prepare-host.sh). Port 8000 of the host is published on
# 127.0.0.1:PUBLISHED_PORT of this machine. An existing running host is reused.
# The run flags match the molecule platforms in extensions/molecule/*/molecule.yml.
set -euo pipefail
name="$1" gpus="$2" published="${3:-}"
here="$(cd "$(dirname "$0")" && pwd)"
network="${LLMFLEET_TESTBED_NETWORK:-llmfleet-testbed}"
docker network inspect "$network" >/dev/null 2>&1 || docker network create "$network" >/dev/null
if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" != "true" ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --hostname "$name" --network "$network" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
    -v "$name-docker:/var/lib/docker" -e container=docker \
    ${published:+-p "127.0.0.1:$published:8000"} \
    llmfleet-testbed/host:latest /lib/systemd/systemd >/dev/null
fi
bash "$here/prepare-host.sh" "$name" "$gpus"
