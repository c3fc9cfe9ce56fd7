#!/usr/bin/env bash
# create-host.sh NAME GPUS [PUBLISHED_PORT]: start a test host (start-host.sh) and make it a GPUS node
# with the engine stand-ins (prepare-host.sh). Both steps keep what is already in place.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/start-host.sh" "$1" "${3:-}"
bash "$here/prepare-host.sh" "$1" "$2"
