#!/usr/bin/env bash
# prepare-host.sh HOST GPUS: make the running test host HOST a GPU node of kind GPUS (a description in
# gpus/, e.g. b200x8) and give its container engine (dockerd, or podman on a podman host) the engine
# stand-ins under the real image names the plans use.
#   - TEST DOUBLES: bin/nvidia-smi -> /usr/local/bin/nvidia-smi, gpus/GPUS.json -> /etc/llmfleet-testbed/gpus.json
#   - the directory for the stand-in's test-only settings, <HF cache>/.llmfleet-testbed
#   - the stand-ins are loaded only when the host lacks these exact image IDs, then tagged.
#   - with LLMFLEET_TESTBED_INSECURE_REGISTRIES, the plain-HTTP registries its dockerd trusts (see below).
# Prints "testbed: HOST changed: ..." for each change it made (callers use it for changed_when).
set -euo pipefail
host="$1" gpus="$2"
here="$(cd "$(dirname "$0")" && pwd)"
cache="${LLMFLEET_TESTBED_CACHE:-/var/cache/llmfleet-testbed}"
description="$here/gpus/$gpus.json"
[ -f "$description" ] || {
  echo "testbed: no GPU description '$gpus' in $here/gpus (have: $(cd "$here/gpus" && printf '%s ' *.json | sed 's/\.json//g'))" >&2
  exit 1
}

# put SRC DEST MODE: write a file into the host unless it already has these bytes.
put() {
  if ! docker exec -i "$host" cmp -s - "$2" < "$1" 2>/dev/null; then
    docker exec -i "$host" sh -c "mkdir -p \"\$(dirname '$2')\" && cat > '$2.tmp' && chmod $3 '$2.tmp' && mv '$2.tmp' '$2'" < "$1"
    echo "testbed: $host changed: $2"
  fi
}
put "$here/bin/nvidia-smi" /usr/local/bin/nvidia-smi 0755
put "$description" /etc/llmfleet-testbed/gpus.json 0644
# Where tests put the stand-in's test-only EMULATOR_* settings (engine/standin.py): the default HF cache,
# which every plan mounts into the engine container.
settings_dir=/root/.cache/huggingface/.llmfleet-testbed
if ! docker exec "$host" test -d "$settings_dir"; then
  docker exec "$host" mkdir -p "$settings_dir"
  echo "testbed: $host changed: $settings_dir"
fi

# The host's container CLI: podman hosts have no docker (llmfleet-testbed/podman-host).
if docker exec "$host" test -x /usr/bin/podman; then
  cli=podman
else
  cli=docker
  for _ in $(seq 1 120); do
    docker exec "$host" docker info > /dev/null 2>&1 && break
    sleep 0.5
  done
  docker exec "$host" docker info > /dev/null 2>&1 || {
    echo "testbed: the dockerd inside $host did not answer within 60 s:" >&2
    docker exec "$host" journalctl -u docker -n 20 --no-pager >&2 || true
    exit 1
  }
fi

# LLMFLEET_TESTBED_INSECURE_REGISTRIES="HOST:PORT ...": plain-HTTP registries on the testbed network (the
# registry test host, registry-host/) that this host's dockerd must trust for pulls and pushes. Merged into
# /etc/docker/daemon.json (insecure-registries; other keys kept) by lib/daemon_json.py; dockerd is restarted only
# when the file changed, so a second run changes nothing (and stops no container the host runs).
registries="${LLMFLEET_TESTBED_INSECURE_REGISTRIES:-}"
if [ -n "$registries" ]; then
  [ "$cli" = docker ] || {
    echo "testbed: LLMFLEET_TESTBED_INSECURE_REGISTRIES is for docker test hosts; $host runs podman" >&2
    exit 1
  }
  daemon_json="$(mktemp)"
  trap 'rm -f "$daemon_json"' EXIT
  # shellcheck disable=SC2086 # one argument per registry
  docker exec "$host" sh -c 'cat /etc/docker/daemon.json 2>/dev/null || true' \
    | python3 "$here/lib/daemon_json.py" $registries > "$daemon_json"
  if [ -n "$(put "$daemon_json" /etc/docker/daemon.json 0644)" ]; then
    docker exec "$host" systemctl restart docker
    echo "testbed: $host changed: /etc/docker/daemon.json insecure-registries $registries (dockerd restarted)"
    for _ in $(seq 1 120); do
      docker exec "$host" docker info > /dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  trusted="$(docker exec "$host" docker info --format '{{json .RegistryConfig.IndexConfigs}}' 2>/dev/null || true)"
  for registry in $registries; do
    grep -qF "\"$registry\"" <<< "$trusted" || {
      echo "testbed: the dockerd inside $host does not trust $registry (its registries: $trusted):" >&2
      docker exec "$host" journalctl -u docker -n 20 --no-pager >&2 || true
      exit 1
    }
  done
fi

# shellcheck source-path=SCRIPTDIR source=lib/standins.sh
. "$here/lib/standins.sh"
vllm_id="$(image_id llmfleet-testbed/engine-vllm:latest)"
sglang_id="$(image_id llmfleet-testbed/engine-sglang:latest)"
if [ -z "$vllm_id" ] || [ -z "$sglang_id" ]; then
  echo "testbed: the engine stand-in images are missing; build them: make testbed-images" >&2
  exit 1
fi
have="$(docker exec "$host" "$cli" image inspect -f '{{.Id}}' llmfleet-testbed/engine-vllm:latest llmfleet-testbed/engine-sglang:latest 2>/dev/null | sed 's/^sha256://' | paste -sd' ' || true)"
if [ "$have" != "$vllm_id $sglang_id" ]; then
  tar_file="$(standins_tar "$cache" "$vllm_id" "$sglang_id")"  # written by build-images.sh
  if [ -s "$tar_file" ]; then
    docker exec -i "$host" "$cli" load -q < "$tar_file" > /dev/null
  else
    docker save llmfleet-testbed/engine-vllm:latest llmfleet-testbed/engine-sglang:latest \
      | docker exec -i "$host" "$cli" load -q > /dev/null
  fi
  echo "testbed: $host changed: loaded the engine stand-ins"
fi

# The real names the plans use, on this test host only.
declare -A names=(
  [engine-vllm]="vllm/vllm-openai:deepseekv4-cu130 vllm/vllm-openai:deepseekv4-cu129"
  [engine-sglang]="lmsysorg/sglang:deepseek-v4-blackwell lmsysorg/sglang:deepseek-v4-hopper lmsysorg/sglang:deepseek-v4-b300 lmsysorg/sglang:deepseek-v4-grace-blackwell"
)
for stand_in in engine-vllm engine-sglang; do
  for name in ${names[$stand_in]}; do
    docker exec "$host" "$cli" tag "llmfleet-testbed/$stand_in:latest" "$name"
  done
done
# TEST DOUBLE for the model weights: a test host has no room for a 146-284 GB build (preflight checks the free
# disk unless the build is in the cache), so each build the profiles name gets a stand-in snapshot in the
# default HF cache, as a host that ran the weights role (llmfleet.serving.weights) would have it. The engine
# stand-ins never read it. LLMFLEET_TESTBED_WEIGHTS="" leaves it out (a host that must download).
hub=/root/.cache/huggingface/hub
for model in ${LLMFLEET_TESTBED_WEIGHTS-deepseek-ai/DeepSeek-V4-Flash sgl-project/DeepSeek-V4-Flash-FP8}; do
  snapshot="$hub/models--${model//\//--}/snapshots/testbed"
  if ! docker exec "$host" test -s "$snapshot/config.json"; then
    docker exec "$host" sh -c "mkdir -p '$snapshot' && echo '{\"llmfleet_testbed\": \"stand-in for $model\"}' > '$snapshot/config.json'"
    echo "testbed: $host changed: stand-in weights $snapshot"
  fi
done
echo "testbed: $host is a $gpus node with the engine stand-ins"
