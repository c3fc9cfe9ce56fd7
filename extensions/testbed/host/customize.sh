#!/usr/bin/env bash
# customize.sh ROOTFS: the test host's changes to the debootstrapped tree (run by lib/debootstrap-image.sh).
# The nvidia-smi double and the GPU description are NOT baked in: prepare-host.sh installs them per host,
# so one image serves every GPU kind and editing the double does not rebuild the image.
set -euo pipefail
root="$1"
here="$(cd "$(dirname "$0")" && pwd)"
# dockerd registers its --gpus driver only when this hook is on PATH at daemon start: it must be in the image.
install -m 0755 "$here/nvidia-container-runtime-hook" "$root/usr/local/bin/nvidia-container-runtime-hook"
mkdir -p "$root/etc/llmfleet-testbed"
bash "$here/../lib/mask-container-units.sh" "$root"
# dockerd keeps its defaults: overlay2 when /var/lib/docker is a volume (start-host.sh makes one), else
# it falls back to vfs by itself; iptables works with CAP_NET_ADMIN, so -p publishing works as on a node.
