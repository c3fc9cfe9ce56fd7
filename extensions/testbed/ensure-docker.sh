#!/usr/bin/env bash
# Make sure a Docker engine answers: start Debian's dockerd when it is installed but not running.
# The testbed needs it; CI (.ci/run) installs docker.io first on a fresh machine.
set -euo pipefail
if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "testbed: Docker is not installed (no dockerd on PATH). Install it: apt-get install docker.io" >&2
  exit 1
fi
if ! command -v docker >/dev/null 2>&1; then
  echo "testbed: the docker client is missing. Install it: apt-get install docker.io" >&2
  exit 1
fi
echo "testbed: starting dockerd (log: /var/log/dockerd.log)"
setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "testbed: dockerd is up"
    exit 0
  fi
  sleep 1
done
echo "testbed: dockerd did not answer within 60 s; last lines of /var/log/dockerd.log:" >&2
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
