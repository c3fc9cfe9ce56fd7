#!/usr/bin/env bash
# debootstrap-image.sh IMAGE PACKAGES_FILE [CUSTOMIZE_SCRIPT] [SUITE]
# Build IMAGE from a minimal Debian SUITE (default bookworm; debootstrap --variant=minbase + the packages listed one per line
# in PACKAGES_FILE), run CUSTOMIZE_SCRIPT ROOTFS on the tree, and `docker import` it. Nothing is
# pulled from a registry. The build is skipped when IMAGE exists with the label org.llmfleet.recipe
# equal to the hash of the recipe: these scripts, the package list, the customize script's folder and the suite.
# Environment: LLMFLEET_TESTBED_MIRROR (Debian mirror URL; default: the one this machine's apt uses),
# LLMFLEET_TESTBED_CACHE (work and .deb cache directory; default /var/cache/llmfleet-testbed),
# LLMFLEET_TESTBED_REBUILD=1 (build even when the image is up to date), LLMFLEET_NET_TRIES and
# LLMFLEET_NET_DELAY_S (how often a failed debootstrap is tried again: lib/retry.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=retry.sh
. "$(dirname "$0")/retry.sh"
image="$1" packages_file="$2" customize="${3:-}" suite="${4:-bookworm}"
cache="${LLMFLEET_TESTBED_CACHE:-/var/cache/llmfleet-testbed}"

# The files the customize script installs live beside it: all of them are part of the recipe.
recipe_files=("$0" "$(dirname "$0")/mask-container-units.sh" "$packages_file")
[ -z "$customize" ] || recipe_files+=("$(dirname "$customize")"/*)
recipe="$(cat "${recipe_files[@]}" <(echo "$suite") | sha256sum | cut -c1-16)"
current="$(docker image inspect -f '{{ index .Config.Labels "org.llmfleet.recipe" }}' "$image" 2>/dev/null || true)"
if [ "$current" = "$recipe" ] && [ "${LLMFLEET_TESTBED_REBUILD:-0}" != 1 ]; then
  echo "testbed: $image is up to date (recipe $recipe)"
  exit 0
fi

mirror="${LLMFLEET_TESTBED_MIRROR:-}"
if [ -z "$mirror" ]; then
  # First non-security URI of apt's deb822 sources, else of a one-line sources.list entry.
  apt_dir="${LLMFLEET_TESTBED_APT_DIR:-/etc/apt}"  # tests point it elsewhere
  mirror="$(grep -hE '^URIs:' "$apt_dir"/sources.list.d/*.sources 2>/dev/null | grep -v security \
            | head -n1 | awk '{print $2}' || true)"
  [ -n "$mirror" ] || mirror="$(grep -hE '^deb ' "$apt_dir"/sources.list "$apt_dir"/sources.list.d/*.list 2>/dev/null \
            | grep -v security | sed -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//' | awk '{print $1}' | head -n1 || true)"
fi
[ -n "$mirror" ] || { echo "testbed: no Debian mirror in /etc/apt; set LLMFLEET_TESTBED_MIRROR" >&2; exit 1; }
command -v debootstrap >/dev/null 2>&1 \
  || { echo "testbed: debootstrap is missing; install it: apt-get install debootstrap" >&2; exit 1; }

slug="${image//[\/:]/_}"
root="$cache/$slug.rootfs"
log="$cache/$slug.log"
arch="${LLMFLEET_TESTBED_ARCH:-$(dpkg --print-architecture 2>/dev/null || echo unknown)}"
# ONE download cache for every image of a suite and architecture (host and engine-base share bookworm's;
# podman-host has trixie's), kept across builds. Each build works in its own copy (hard links, no extra
# space) and hands what it downloaded back: two debootstraps writing the same .deb into one directory at
# once can corrupt each other's download (debootstrap then deletes it and fetches again, "Retrying failed
# download of ...", until it gives up).
debs="$cache/debs/$suite-$arch"
work_debs="$cache/$slug.debs"
mkdir -p "$debs" "$work_debs/partial"  # partial/: debootstrap moves a .deb up only once its checksum matched
# Seed from the shared cache (and from the single flat directory that earlier versions used); debootstrap
# checks every cached .deb against the mirror's index and downloads it again if it does not match.
cp -l -n "$debs"/*.deb "$cache"/debs/*.deb "$work_debs"/ 2>/dev/null || true
share_downloads() {
  local deb
  for deb in "$work_debs"/*.deb; do
    if [ ! -e "$deb" ] || [ -e "$debs/${deb##*/}" ]; then continue; fi
    # One seeded from the flat directory stays there (it may be another suite's).
    [ ! "$deb" -ef "$cache/debs/${deb##*/}" ] || continue
    ln "$deb" "$debs/" 2>/dev/null || true  # another build may have just added the same file
  done
}
include="$(grep -vE '^[[:space:]]*(#|$)' "$packages_file" | paste -sd, -)"
bootstrap_tries=0
bootstrap_once() {
  # A try starts from an empty tree but keeps every .deb fetched so far (work_debs): a retry downloads
  # only what is still missing.
  bootstrap_tries=$((bootstrap_tries + 1))
  rm -rf "$root" && mkdir -p "$root" || return 1
  echo "=== debootstrap attempt $bootstrap_tries" >> "$log"
  local rc=0
  debootstrap --variant=minbase --include="$include" --cache-dir="$work_debs" "$suite" "$root" "$mirror" \
    >> "$log" 2>&1 || rc=$?
  share_downloads
  if [ "$rc" != 0 ]; then
    echo "testbed: debootstrap of $image failed (attempt $bootstrap_tries); last lines of $log:" >&2
    tail -n 8 "$log" >&2
  fi
  return "$rc"
}
started=$SECONDS
echo "testbed: building $image from $mirror (recipe $recipe; log $log)"
: > "$log"
retry bootstrap_once || {
  echo "testbed: debootstrap of $image failed $bootstrap_tries times; see $log" >&2
  rm -rf "$root"
  exit 1
}
rm -rf "$work_debs"
[ -z "$customize" ] || bash "$customize" "$root"
# What an image does not need: downloaded packages, indexes, documentation.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/*
old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
tar -C "$root" --numeric-owner -c . | docker import -c "LABEL org.llmfleet.recipe=$recipe" - "$image" > /dev/null
rm -rf "$root"
# Drop the image this one replaces (kept while a container still uses it).
[ -z "$old_id" ] || docker rmi "$old_id" > /dev/null 2>&1 || true
echo "testbed: built $image in $((SECONDS - started)) s"
