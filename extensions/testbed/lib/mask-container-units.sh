#!/usr/bin/env bash
# mask-container-units.sh ROOTFS: a container has no console, udev or kernel modules to load; these
# units only fail or wait there. Shared by the test host images' customize scripts.
set -euo pipefail
root="$1"
for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service \
            systemd-modules-load.service systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer \
            e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
