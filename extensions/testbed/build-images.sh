#!/usr/bin/env bash
# Build the testbed images in the local Docker engine (nothing is pulled from a registry):
#   llmfleet-testbed/host:latest           Debian bookworm: systemd as PID 1, its own dockerd, python3,
#                                          the test-only no-op nvidia-container-runtime-hook (host/)
#   llmfleet-testbed/podman-host:latest    Debian trixie: the same with podman 5 (quadlet) instead of dockerd,
#                                          the test-only CDI spec for nvidia.com/gpu=all (podman-host/)
#   llmfleet-testbed/engine-base:latest    Debian bookworm: python3, aiohttp, uvloop (engine/base-packages)
#   llmfleet-testbed/engine-vllm:latest    TEST DOUBLE: the emulator behind ENTRYPOINT ["vllm", "serve"]
#   llmfleet-testbed/engine-sglang:latest  TEST DOUBLE: the emulator behind `python3 -m sglang.launch_server`
#                                          (both also answer the engines' benchmark commands with our client)
# The debootstrapped images are rebuilt only when their recipe changes (lib/debootstrap-image.sh); the
# stand-ins are thin layers with the emulator's current code, rebuilt in seconds when it changes.
# Last, the stand-ins are saved once to $LLMFLEET_TESTBED_CACHE/standins-<ids>.tar, which
# prepare-host.sh loads into each test host's dockerd.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${LLMFLEET_TESTBED_CACHE:-/var/cache/llmfleet-testbed}"

bash "$here/ensure-docker.sh"
mkdir -p "$cache"
# One build at a time on this machine (make targets and the demo may start it together).
exec 9> "$cache/build.lock"
flock 9
started=$SECONDS

# The debootstraps are mostly downloads and unpacking: run them side by side.
bash "$here/lib/debootstrap-image.sh" llmfleet-testbed/host:latest "$here/host/packages" "$here/host/customize.sh" &
host_build=$!
bash "$here/lib/debootstrap-image.sh" llmfleet-testbed/podman-host:latest "$here/podman-host/packages" \
  "$here/podman-host/customize.sh" trixie &
podman_host_build=$!
bash "$here/lib/debootstrap-image.sh" llmfleet-testbed/engine-base:latest "$here/engine/base-packages" &
engine_build=$!
failed=0
wait "$host_build" || failed=1
wait "$podman_host_build" || failed=1
wait "$engine_build" || failed=1
[ "$failed" = 0 ] || { echo "testbed: image build failed (see above)" >&2; exit 1; }

# shellcheck source-path=SCRIPTDIR source=lib/standins.sh
. "$here/lib/standins.sh"
old_ids="$(image_id llmfleet-testbed/engine-sglang:latest) $(image_id llmfleet-testbed/engine-vllm:latest)"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp -r "$here/engine/." "$ctx/"
cp -r "$repo/extensions/emulator/llmfleet_emulator" "$ctx/"
# For the engine-benchmark doubles (`vllm bench serve`, `python3 -m sglang.bench_serving`): the
# collection's client and the module_utils it imports. The engine flag catalog goes along so the
# stand-in accepts every flag the planner lets through (llmfleet_emulator/flag_catalog.py). All of
# module_utils, not a list of the client's files: a list goes stale when the client imports a new one.
cp -r "$repo/extensions/bench/llmfleet_bench" "$ctx/"
mkdir -p "$ctx/ansible_collections/llmfleet/serving/plugins/module_utils"
cp "$repo"/plugins/module_utils/*.py "$ctx/ansible_collections/llmfleet/serving/plugins/module_utils/"
find "$ctx" -name __pycache__ -prune -exec rm -rf {} +
# Fixed mtimes: an unchanged tree gives the same layers (Docker's build cache), so the same image IDs.
find "$ctx" -exec touch -h -d @0 {} +
DOCKER_BUILDKIT=0 docker build -q --build-arg BASE=llmfleet-testbed/engine-base:latest \
  -t llmfleet-testbed/engine-sglang:latest "$ctx" > /dev/null 2> "$ctx/build.err" \
  || { cat "$ctx/build.err" >&2; exit 1; }
printf 'FROM llmfleet-testbed/engine-sglang:latest\nENTRYPOINT ["vllm", "serve"]\n' \
  | DOCKER_BUILDKIT=0 docker build -q -t llmfleet-testbed/engine-vllm:latest - > /dev/null 2> "$ctx/build.err" \
  || { cat "$ctx/build.err" >&2; exit 1; }
sglang_id="$(image_id llmfleet-testbed/engine-sglang:latest)"
vllm_id="$(image_id llmfleet-testbed/engine-vllm:latest)"
# Drop the stand-ins this build replaced (an image still used by a container stays).
for old in $old_ids; do
  [ "$old" = "$sglang_id" ] || [ "$old" = "$vllm_id" ] || docker rmi "$old" > /dev/null 2>&1 || true
done

tar_file="$(standins_tar "$cache" "$vllm_id" "$sglang_id")"
if [ ! -s "$tar_file" ]; then
  rm -f "$cache"/standins-*.tar
  docker save llmfleet-testbed/engine-vllm:latest llmfleet-testbed/engine-sglang:latest > "$tar_file.tmp"
  mv "$tar_file.tmp" "$tar_file"
fi
echo "testbed: images ready in $((SECONDS - started)) s (stand-ins: vllm ${vllm_id:0:12}, sglang ${sglang_id:0:12})"
