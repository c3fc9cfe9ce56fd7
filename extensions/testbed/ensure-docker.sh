#!/usr/bin/env bash
# ensure-docker.sh: make sure a Docker engine answers, for the testbed (build-images.sh runs it first).
#   answers                   -> nothing to do
#   dockerd not installed     -> fail, saying how to install it (CI's .ci/run installs docker.io first)
#   installed, not running    -> start it in the background and wait until it answers
# Environment: LLMFLEET_DOCKERD_LOG (default /var/log/dockerd.log), LLMFLEET_DOCKERD_WAIT_S (default 60).
set -euo pipefail
log="${LLMFLEET_DOCKERD_LOG:-/var/log/dockerd.log}"
wait_s="${LLMFLEET_DOCKERD_WAIT_S:-60}"
if command -v docker > /dev/null 2>&1 && docker info > /dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd > /dev/null 2>&1 || ! command -v docker > /dev/null 2>&1; then
  echo "testbed: Docker is not installed (no docker/dockerd on PATH). Install it: apt-get install docker.io" >&2
  exit 1
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "testbed: the Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer (docker info failed)" >&2
  exit 1
fi
echo "testbed: Docker is installed but not running: starting dockerd (log: $log)"
setsid dockerd > "$log" 2>&1 < /dev/null &
for _ in $(seq 1 "$wait_s"); do
  if docker info > /dev/null 2>&1; then
    echo "testbed: dockerd is up"
    exit 0
  fi
  sleep 1
done
echo "testbed: dockerd did not answer within $wait_s s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
