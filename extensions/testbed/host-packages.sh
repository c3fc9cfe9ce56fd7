#!/usr/bin/env bash
# host-packages.sh: install the Debian packages `make demo` and `make test` need on this machine
# when they are missing (as root, with apt-get); otherwise say which ones to install.
#   dockerd (docker.io)  the testbed's hosts run as containers
#   debootstrap          the testbed images are built locally, never pulled
#   python3-venv         .venv with the pinned Python dependencies
#   git                  the sanity tree is the files git knows
#   the shellcheck tool  ansible-test sanity runs its shellcheck test only when it is installed
set -euo pipefail
need=()
command -v dockerd > /dev/null 2>&1 || need+=(docker.io)
command -v debootstrap > /dev/null 2>&1 || need+=(debootstrap)
command -v git > /dev/null 2>&1 || need+=(git)
command -v shellcheck > /dev/null 2>&1 || need+=(shellcheck)
python3 -c 'import venv, ensurepip' > /dev/null 2>&1 || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null 2>&1; then
  echo "host-packages: missing ${need[*]}; install them (Debian: sudo apt-get install ${need[*]}) and run make again" >&2
  exit 1
fi
echo "host-packages: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# A flaky mirror should not fail the run: apt retries each request, and the whole step is tried again.
# shellcheck source-path=SCRIPTDIR source=lib/retry.sh
. "$(dirname "$0")/lib/retry.sh"
retry apt-get "${APT_NET_OPTS[@]}" update -qq
retry apt-get "${APT_NET_OPTS[@]}" install -y -qq "${need[@]}" > /dev/null
