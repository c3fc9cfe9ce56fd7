#!/usr/bin/env bash
# customize.sh ROOTFS: the registry test host's changes to the debootstrapped tree (run by lib/debootstrap-image.sh).
# The package enables docker-registry.service (started at boot by systemd). Its configuration is written here in
# full rather than relying on the package's default, so the address and the storage the testbed relies on are in
# this recipe: plain HTTP on :5000 (the test hosts' dockerd trust it through insecure-registries, prepare-host.sh
# LLMFLEET_TESTBED_INSECURE_REGISTRIES), blobs under /var/lib/docker-registry (the package's user owns it).
set -euo pipefail
root="$1"
bash "$(dirname "$0")/../lib/mask-container-units.sh" "$root"
mkdir -p "$root/etc/docker/registry"
cat > "$root/etc/docker/registry/config.yml" <<'YAML'
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  cache:
    blobdescriptor: inmemory
http:
  addr: :5000
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
YAML
