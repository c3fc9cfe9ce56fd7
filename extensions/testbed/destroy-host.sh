#!/usr/bin/env bash
# destroy-host.sh CONTAINER...: remove test hosts and their docker volumes.
set -uo pipefail
for name in "$@"; do
  docker rm -f "$name" >/dev/null 2>&1
  docker volume rm "$name-docker" >/dev/null 2>&1
done
exit 0
