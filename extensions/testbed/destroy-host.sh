#!/usr/bin/env bash
# destroy-host.sh NAME...: remove test hosts and their image-store volumes (everything they ran).
set -uo pipefail
for name in "$@"; do
  docker rm -f "$name" > /dev/null 2>&1
  docker volume rm "$name-docker" "$name-containers" > /dev/null 2>&1
done
exit 0
