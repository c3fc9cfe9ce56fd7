#!/usr/bin/env bash
# customize.sh ROOTFS: the podman test host's changes to the debootstrapped tree (lib/debootstrap-image.sh).
# The nvidia-smi double and the GPU description come per host from prepare-host.sh, as on the docker hosts.
set -euo pipefail
root="$1"
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/../lib/mask-container-units.sh" "$root"
install -D -m 0644 "$here/nvidia-cdi.yaml" "$root/etc/cdi/nvidia.yaml"
install -D -m 0644 "$here/llmfleet-testbed-net-sysctl.service" \
  "$root/etc/systemd/system/llmfleet-testbed-net-sysctl.service"
ln -sf ../llmfleet-testbed-net-sysctl.service \
  "$root/etc/systemd/system/multi-user.target.wants/llmfleet-testbed-net-sysctl.service"
mkdir -p "$root/etc/llmfleet-testbed"
