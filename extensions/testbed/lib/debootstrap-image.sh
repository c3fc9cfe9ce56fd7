#!/usr/bin/env bash
# debootstrap-image.sh IMAGE PACKAGES_FILE [CUSTOMIZE_SCRIPT] [SUITE]
# Build IMAGE from a minimal Debian SUITE (default bookworm; debootstrap --variant=minbase + the packages listed one per line
# in PACKAGES_FILE), run CUSTOMIZE_SCRIPT ROOTFS on the tree, and `docker import` it. Nothing is
# pulled from a registry. The build is skipped when IMAGE exists with the label org.llmfleet.recipe
# equal to the hash of the recipe: these scripts, the package list, the customize script's folder and the suite.
# Environment: LLMFLEET_TESTBED_MIRROR (Debian mirror URL; default: the one this machine's apt uses),
# LLMFLEET_TESTBED_CACHE (work and .deb cache directory; default /var/cache/llmfleet-testbed),
# LLMFLEET_TESTBED_REBUILD=1 (build even when the image is up to date).
set -euo pipefail
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
debs="$cache/debs"  # downloaded .debs, reused by later builds (debootstrap checks them against the mirror's index)
mkdir -p "$cache" "$debs"
started=$SECONDS
echo "testbed: building $image from $mirror (recipe $recipe; log $log)"
rm -rf "$root" && mkdir -p "$root"
include="$(grep -vE '^[[:space:]]*(#|$)' "$packages_file" | paste -sd, -)"
debootstrap --variant=minbase --include="$include" --cache-dir="$debs" "$suite" "$root" "$mirror" > "$log" 2>&1 \
  || { echo "testbed: debootstrap of $image failed; last lines of $log:" >&2; tail -n 20 "$log" >&2; rm -rf "$root"; exit 1; }
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
