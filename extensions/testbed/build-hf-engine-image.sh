#!/usr/bin/env bash
# Build llmfleet-testbed/engine-hf:latest: the vLLM engine stand-in with huggingface_hub (pinned in
# engine-hf/requirements.txt) for the weights scenario. The packages come from PyPI with this machine's pip into a
# build context (never into .venv); the image is rebuilt only when the recipe or the stand-in changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image=llmfleet-testbed/engine-hf:latest
base=llmfleet-testbed/engine-vllm:latest
docker image inspect "$base" > /dev/null 2>&1 || { echo "testbed: no $base; build it first: make testbed-images" >&2; exit 1; }
recipe="$( (cat "$here/engine-hf/requirements.txt" "$here/engine-hf/Dockerfile" "$here/engine-hf/hf" "$0";
            docker image inspect -f '{{.Id}}' "$base") | sha256sum | cut -c1-16)"
if [ "$(docker image inspect -f '{{index .Config.Labels "org.llmfleet.recipe"}}' "$image" 2>/dev/null || true)" = "$recipe" ]; then
  exit 0
fi
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$here/engine-hf/Dockerfile" "$here/engine-hf/hf" "$ctx/"
chmod 0755 "$ctx/hf"
# The pip of the collection's venv (make passes it): a fresh Debian's python3 may have no pip module.
bash "$here/lib/retry.sh" "${LLMFLEET_PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check --no-compile --retries 10 --timeout 60 \
  --target "$ctx/site" -r "$here/engine-hf/requirements.txt"
rm -rf "$ctx/site/bin"
docker build -q --label "org.llmfleet.recipe=$recipe" --build-arg "BASE=$base" -t "$image" "$ctx" > /dev/null
echo "testbed: built $image ($recipe)"
