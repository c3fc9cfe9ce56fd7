#!/usr/bin/env bash
# push-standin.sh HOST SOURCE TARGET...: make each TARGET (REGISTRY:PORT/NAME:TAG) a "new" engine image in the
# registry, as a release would publish it: a one-line build on the test host HOST, FROM its image SOURCE (e.g. a
# stand-in under a real name) with the label org.llmfleet.testbed.image=TARGET (so each TARGET has its own image ID,
# unlike a plain retag), pushed by HOST's dockerd (which must trust the registry: prepare-host.sh with
# LLMFLEET_TESTBED_INSECURE_REGISTRIES), then untagged on HOST, so a pull there is a real pull. The build is done
# inside a test host because the registry's name resolves only on the testbed network, and the machine's own dockerd
# does not trust a plain-HTTP registry.
set -euo pipefail
[ "$#" -ge 3 ] || { echo "usage: push-standin.sh HOST SOURCE TARGET..." >&2; exit 2; }
host="$1" source="$2"
shift 2
for target in "$@"; do
  # shellcheck disable=SC2016 # expanded by the host's shell
  docker exec "$host" sh -c '
    set -e
    printf "FROM %s\nLABEL org.llmfleet.testbed.image=%s\n" "$1" "$2" | DOCKER_BUILDKIT=0 docker build -q -t "$2" - > /dev/null
    docker push "$2" > /dev/null
    docker rmi "$2" > /dev/null' push-standin "$source" "$target" \
    || { echo "testbed: could not build and push $target from $source on $host" >&2; exit 1; }
  echo "testbed: pushed $target (from $source on $host)"
done
