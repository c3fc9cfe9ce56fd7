#!/usr/bin/env bash
# retry.sh: run a network step again when it fails, so one flaky mirror answer does not fail a whole
# `make test` (a clean-clone CI run once died on a single .deb debootstrap could not fetch; the same
# command passed when run again).
#   Sourced:   . lib/retry.sh; retry CMD ARGS...      (a shell function; CMD may be another function)
#   Run:       bash lib/retry.sh CMD ARGS...          (from the Makefile, around pip)
# Environment: LLMFLEET_NET_TRIES (attempts, default 4), LLMFLEET_NET_DELAY_S (first pause in seconds,
# default 5; doubled after each failure, so 5 + 10 + 20 s before the last try by default).
# When nothing fails, CMD runs once and nothing is added to its time.
# apt-get and pip also retry single requests themselves (APT_NET_OPTS below; pip --retries): this loop is
# for what they give up on (an index that would not download, a connection reset mid-file).

# Options for every apt-get that downloads: retry each failed request, and do not wait forever on a mirror.
# shellcheck disable=SC2034  # used by the scripts that source this file
APT_NET_OPTS=(-o Acquire::Retries=5 -o Acquire::http::Timeout=60 -o Acquire::https::Timeout=60)

retry() {
  local _retry_tries="${LLMFLEET_NET_TRIES:-4}" _retry_delay="${LLMFLEET_NET_DELAY_S:-5}" _retry_attempt=1 _retry_rc
  case "$_retry_tries" in
    '' | *[!0-9]* | 0) echo "retry: LLMFLEET_NET_TRIES=$_retry_tries is not a positive whole number; use e.g. 4" >&2; return 2 ;;
  esac
  case "$_retry_delay" in
    '' | *[!0-9]*) echo "retry: LLMFLEET_NET_DELAY_S=$_retry_delay is not a whole number of seconds; use e.g. 5" >&2; return 2 ;;
  esac
  while true; do
    _retry_rc=0
    "$@" || _retry_rc=$?
    [ "$_retry_rc" != 0 ] || return 0
    if [ "$_retry_attempt" -ge "$_retry_tries" ]; then
      echo "retry: giving up on '$*' after $_retry_attempt attempts (exit status $_retry_rc)" >&2
      return "$_retry_rc"
    fi
    echo "retry: '$*' failed (exit status $_retry_rc, attempt $_retry_attempt of $_retry_tries);" \
      "trying again in $_retry_delay s" >&2
    sleep "$_retry_delay"
    _retry_attempt=$((_retry_attempt + 1))
    _retry_delay=$((_retry_delay * 2))
  done
}

# Run as a command (not sourced): retry the command line given.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  [ $# -gt 0 ] || { echo "usage: bash $0 COMMAND [ARGS...]" >&2; exit 2; }
  retry "$@"
fi
