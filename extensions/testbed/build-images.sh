#!/usr/bin/env bash
# Build the testbed images locally (nothing is pulled from a registry):
#   llmfleet-testbed/host:latest          Debian bookworm, systemd as PID 1, its own dockerd, python3,
#                                         the test-only nvidia-smi double, GPU descriptions and the
#                                         no-op nvidia-container-runtime-hook
#   llmfleet-testbed/engine-vllm:latest   the emulator behind `vllm serve` (ENTRYPOINT as vllm/vllm-openai)
#   llmfleet-testbed/engine-sglang:latest the emulator behind `python3 -m sglang.launch_server`
# The debootstrapped bases are cached: each is rebuilt only when its recipe (package list, this
# script, the files baked in) changes; the recipe's hash is kept in the image label org.llmfleet.recipe.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${LLMFLEET_TESTBED_CACHE:-/var/cache/llmfleet-testbed}"
suite=bookworm
host_packages="python3,systemd,systemd-sysv,dbus,iproute2,iptables,curl,ca-certificates,docker.io,procps,sudo"
engine_packages="python3,python3-aiohttp,python3-uvloop,curl,ca-certificates"

bash "$here/ensure-docker.sh"
command -v debootstrap >/dev/null 2>&1 || { echo "testbed: debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }

# The Debian mirror this machine's apt uses (LLMFLEET_TESTBED_MIRROR overrides).
mirror="${LLMFLEET_TESTBED_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
            | grep -v security | head -n1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)"
fi
[ -n "$mirror" ] || { echo "testbed: no Debian mirror found in /etc/apt; set LLMFLEET_TESTBED_MIRROR" >&2; exit 1; }

recipe_hash() {  # hash of the strings and files given
  { for item in "$@"; do if [ -f "$item" ]; then cat "$item"; else printf '%s\n' "$item"; fi; done; } | sha256sum | cut -c1-16
}

image_recipe() { docker image inspect -f '{{ index .Config.Labels "org.llmfleet.recipe" }}' "$1" 2>/dev/null || true; }

# debootstrap_image IMAGE PACKAGES RECIPE [CUSTOMIZE_FN]
debootstrap_image() {
  local image="$1" packages="$2" recipe="$3" customize="${4:-}"
  if [ "$(image_recipe "$image")" = "$recipe" ]; then
    echo "testbed: $image is up to date (recipe $recipe)"
    return
  fi
  local root="$cache/${image//[\/:]/_}"
  local started=$SECONDS
  echo "testbed: building $image with debootstrap from $mirror (recipe $recipe)"
  rm -rf "$root" && mkdir -p "$root"
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" > "$root.log" 2>&1 \
    || { echo "testbed: debootstrap failed; last lines of $root.log:" >&2; tail -n 20 "$root.log" >&2; exit 1; }
  [ -z "$customize" ] || "$customize" "$root"
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale
  tar -C "$root" -c . | docker import \
      -c "LABEL org.llmfleet.recipe=$recipe" -c 'CMD ["/lib/systemd/systemd"]' - "$image" >/dev/null
  rm -rf "$root"
  echo "testbed: built $image in $((SECONDS - started)) s"
}

customize_host() {
  local root="$1"
  install -m 0755 "$repo/extensions/testbed/bin/nvidia-smi" "$root/usr/local/bin/nvidia-smi"
  install -m 0755 "$here/host/nvidia-container-runtime-hook" "$root/usr/local/bin/nvidia-container-runtime-hook"
  mkdir -p "$root/usr/share/llmfleet-testbed/gpus" "$root/etc/llmfleet-testbed"
  install -m 0644 "$repo"/extensions/testbed/gpus/*.json "$root/usr/share/llmfleet-testbed/gpus/"
  # A container has no console or udev; these units only fail or wait there.
  for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service \
              systemd-modules-load.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
}

host_recipe="$(recipe_hash "$suite" "$host_packages" "$0" "$repo/extensions/testbed/bin/nvidia-smi" \
                 "$here/host/nvidia-container-runtime-hook" "$repo"/extensions/testbed/gpus/*.json)"
engine_recipe="$(recipe_hash "$suite" "$engine_packages")"

debootstrap_image llmfleet-testbed/host:latest "$host_packages" "$host_recipe" customize_host
debootstrap_image llmfleet-testbed/engine-base:latest "$engine_packages" "$engine_recipe"

# The stand-ins: thin layers over engine-base with the emulator's current code (cheap, rebuilt each time;
# Docker's layer cache makes an unchanged rebuild instant).
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp -r "$here/engine/." "$ctx/"
cp -r "$repo/extensions/emulator/llmfleet_emulator" "$ctx/"
find "$ctx" -name __pycache__ -prune -exec rm -rf {} +
docker build -q --build-arg BASE=llmfleet-testbed/engine-base:latest -t llmfleet-testbed/engine-sglang:latest "$ctx" >/dev/null
printf 'FROM llmfleet-testbed/engine-sglang:latest\nENTRYPOINT ["vllm", "serve"]\n' \
  | docker build -q -t llmfleet-testbed/engine-vllm:latest - >/dev/null
echo "testbed: engine stand-ins ready (llmfleet-testbed/engine-vllm, llmfleet-testbed/engine-sglang)"
