#!/usr/bin/env bash
# start-host.sh NAME [PUBLISHED_PORT]: start the test host container NAME (systemd as PID 1, its own
# dockerd with /var/lib/docker on the volume NAME-docker) on the docker network $LLMFLEET_TESTBED_NETWORK
# (default llmfleet-testbed). Port 8000 of the host is published on 127.0.0.1:PUBLISHED_PORT when given.
# LLMFLEET_TESTBED_RUNTIME=podman starts a podman host instead (llmfleet-testbed/podman-host, its
# /var/lib/containers on the volume NAME-containers).
# LLMFLEET_TESTBED_VOLUMES: extra "VOLUME:/path" mounts, space-separated (scenario `weights`: one docker volume
# mounted on two hosts stands in for shared storage, weights_shared).
# A running host of that name is kept as it is. These are the one copy of the test host's run flags
# (the DESIGN.md flags, plus NET_ADMIN so the host's dockerd can set up its bridge and port publishing).
set -euo pipefail
name="$1" published="${2:-}"
network="${LLMFLEET_TESTBED_NETWORK:-llmfleet-testbed}"
case "${LLMFLEET_TESTBED_RUNTIME:-docker}" in
  docker) default_image=llmfleet-testbed/host:latest storage=/var/lib/docker volume="$name-docker" ;;
  podman) default_image=llmfleet-testbed/podman-host:latest storage=/var/lib/containers volume="$name-containers" ;;
  *) echo "testbed: LLMFLEET_TESTBED_RUNTIME must be docker or podman, got '$LLMFLEET_TESTBED_RUNTIME'" >&2; exit 1 ;;
esac
image="${LLMFLEET_TESTBED_HOST_IMAGE:-$default_image}"
docker image inspect "$image" > /dev/null 2>&1 \
  || { echo "testbed: no image $image; build it first: make testbed-images" >&2; exit 1; }
docker network inspect "$network" > /dev/null 2>&1 \
  || docker network create --label org.llmfleet.testbed=network "$network" > /dev/null 2>&1 \
  || docker network inspect "$network" > /dev/null  # created meanwhile by a parallel start
if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" = "true" ]; then
  exit 0
fi
extra_volumes=()
for v in ${LLMFLEET_TESTBED_VOLUMES:-}; do extra_volumes+=(-v "$v"); done
docker rm -f "$name" > /dev/null 2>&1 || true
docker run -d --name "$name" --hostname "$name" --network "$network" \
  --label org.llmfleet.testbed=host \
  --cap-add SYS_ADMIN --cap-add NET_ADMIN \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
  -v "$volume:$storage" -e container=docker \
  "${extra_volumes[@]}" \
  ${published:+-p "127.0.0.1:$published:8000"} \
  "$image" /lib/systemd/systemd > /dev/null
