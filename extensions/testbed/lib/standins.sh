# shellcheck shell=bash
# Sourced by build-images.sh and prepare-host.sh: the engine stand-ins' image IDs, and the file that
# build-images.sh saves them to once and prepare-host.sh loads into each test host.
# IDs without the "sha256:" that docker prints and podman does not.
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null | sed 's/^sha256://' || true; }
# standins_tar CACHE VLLM_ID SGLANG_ID
standins_tar() { echo "$1/standins-${2:0:12}-${3:0:12}.tar"; }
