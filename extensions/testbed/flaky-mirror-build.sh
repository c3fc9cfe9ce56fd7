#!/usr/bin/env bash
# flaky-mirror-build.sh [IMAGE_DIR]: build one testbed image through a Debian mirror that FAILS its first
# answers (TEST DOUBLE: lib/flaky_mirror.py in front of the real mirror) and show the build recovers.
# The double answers 503 to the first $LLMFLEET_FLAKY_FAILS (default 1) requests for each path matching
# $LLMFLEET_FLAKY_MATCH (default: libssh2-1's .deb, the package a CI run once lost). debootstrap asks for a .deb
# once per try and gives up on a 503, so the first try fails as that CI run did and lib/debootstrap-image.sh
# must try again (keeping the other downloads); with 4 or more fails every try fails and so does the build.
# IMAGE_DIR: engine (default, the smallest image: engine/base-packages), host or podman-host.
# The image goes to a scratch tag (llmfleet-testbed-flaky/<dir>:test, removed afterwards) and the cache to a
# scratch directory ($LLMFLEET_TESTBED_CACHE, default a new /tmp directory): the real images and the shared
# download cache are not touched, so every package is downloaded (a full first-run download for that image).
# Needs the network, Docker and debootstrap, and takes minutes; run it under the molecule lock:
#   flock /tmp/molecule.lock bash extensions/testbed/flaky-mirror-build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
which="${1:-engine}"
case "$which" in
  engine) packages="$here/engine/base-packages" customize="" suite=bookworm ;;
  host) packages="$here/host/packages" customize="$here/host/customize.sh" suite=bookworm ;;
  podman-host) packages="$here/podman-host/packages" customize="$here/podman-host/customize.sh" suite=trixie ;;
  *) echo "flaky-mirror-build: IMAGE_DIR '$which' is not one of: engine, host, podman-host" >&2; exit 2 ;;
esac
upstream="${LLMFLEET_TESTBED_MIRROR:-http://deb.debian.org/debian}"
cache="${LLMFLEET_TESTBED_CACHE:-$(mktemp -d /tmp/llmfleet-flaky-cache.XXXXXX)}"
image="llmfleet-testbed-flaky/$which:test"
log="$cache/flaky-mirror.log"
mkdir -p "$cache"

python3 "$here/lib/flaky_mirror.py" --upstream "$upstream" --port 0 \
  --match "${LLMFLEET_FLAKY_MATCH:-/libssh2-1_[^/]*\\.deb\$}" --fail-first "${LLMFLEET_FLAKY_FAILS:-1}" \
  > "$cache/flaky-mirror.url" 2> "$log" &
mirror_pid=$!
trap 'kill "$mirror_pid" 2>/dev/null || true; docker rmi "$image" > /dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do [ -s "$cache/flaky-mirror.url" ] && break; sleep 0.1; done
mirror="$(head -n1 "$cache/flaky-mirror.url")"
echo "flaky-mirror-build: $image through $mirror (-> $upstream), cache $cache"

started=$SECONDS
LLMFLEET_TESTBED_MIRROR="$mirror" LLMFLEET_TESTBED_CACHE="$cache" LLMFLEET_TESTBED_REBUILD=1 \
  bash "$here/lib/debootstrap-image.sh" "$image" "$packages" "$customize" "$suite"
echo "flaky-mirror-build: built in $((SECONDS - started)) s; what the double failed, then served:"
grep -vE ' 200 ' "$log" || true
grep -E "${LLMFLEET_FLAKY_MATCH:-libssh2-1_}" "$log" | grep ' 200 ' || true
echo "flaky-mirror-build: downloads: $(find "$cache/debs" -name '*.deb' | wc -l) packages," \
  "$(du -sm "$cache/debs" | cut -f1) MB in $cache/debs"
docker image inspect -f 'flaky-mirror-build: {{.Id}} {{ index .Config.Labels "org.llmfleet.recipe" }}' "$image"
