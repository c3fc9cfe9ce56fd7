#!/usr/bin/env bash
# customize.sh ROOTFS: the router test host's changes to the debootstrapped tree (run by lib/debootstrap-image.sh).
# The engine emulator the scenario runs as backends is NOT baked in: the scenario copies the checkout's
# extensions/emulator into the host, so editing the emulator does not rebuild this image.
set -euo pipefail
root="$1"
bash "$(dirname "$0")/../lib/mask-container-units.sh" "$root"
# The package's own haproxy.service is enabled and started on boot with Debian's default configuration
# (no listener): the router role is what configures it, as on a fresh router node.
