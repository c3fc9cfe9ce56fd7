#!/usr/bin/env bash
# prepare-host.sh HOST GPUS: make a running test host look like a GPU node of kind GPUS
# (a description in extensions/testbed/gpus/, e.g. b200x8) and give its dockerd the engine stand-ins
# under the real image names the plans use. Loading is skipped when the host already has the image.
set -euo pipefail
host="$1" gpus="$2"
here="$(cd "$(dirname "$0")" && pwd)"
[ -f "$here/gpus/$gpus.json" ] || { echo "testbed: no GPU description $gpus (have: $(cd "$here/gpus" && ls | sed 's/\.json$//' | tr '\n' ' '))" >&2; exit 1; }

# Test-only emulator settings live in the HF cache every plan mounts (see engine/standin.py).
docker exec "$host" mkdir -p /root/.cache/huggingface/.llmfleet-testbed
docker exec "$host" ln -sfn "/usr/share/llmfleet-testbed/gpus/$gpus.json" /etc/llmfleet-testbed/gpus.json

for _ in $(seq 1 60); do
  docker exec "$host" docker info >/dev/null 2>&1 && break
  sleep 1
done
docker exec "$host" docker info >/dev/null 2>&1 || { echo "testbed: dockerd inside $host did not start" >&2; docker exec "$host" journalctl -u docker -n 20 --no-pager >&2 || true; exit 1; }

declare -A names=(
  [engine-vllm]="vllm/vllm-openai:deepseekv4-cu130 vllm/vllm-openai:deepseekv4-cu129"
  [engine-sglang]="lmsysorg/sglang:deepseek-v4-blackwell lmsysorg/sglang:deepseek-v4-hopper lmsysorg/sglang:deepseek-v4-b300 lmsysorg/sglang:deepseek-v4-grace-blackwell"
)
for stand_in in engine-vllm engine-sglang; do
  image="llmfleet-testbed/$stand_in:latest"
  want="$(docker image inspect -f '{{.Id}}' "$image")"
  have="$(docker exec "$host" docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  if [ "$want" != "$have" ]; then
    docker save "$image" | docker exec -i "$host" docker load -q >/dev/null
  fi
  for name in ${names[$stand_in]}; do
    docker exec "$host" docker tag "$image" "$name"
  done
done
echo "testbed: $host is a $gpus node with the engine stand-ins loaded"
