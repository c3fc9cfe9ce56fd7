#!/usr/bin/env bash
# cell-check.sh [host|publish]: prove that a multi-node cell forms across test hosts. Starts two test
# hosts (h100x4 each) on one user-defined network, runs the SGLang stand-in as rank 0 (head) in one and
# rank 1 in the other with the fleet planner's cell command line, prints the head's log lines with every
# rank joining and its /health, then kills the worker and shows the head unhealthy (503 naming rank 1).
#   host    (default) the engine containers use --network host: the head's --dist-init-addr is its test
#           host's own address, as on a real fleet (NCCL and Gloo also need the hosts' addresses).
#   publish the engine containers stay on the inner bridge and publish the HTTP and dist ports (-p).
# Run it under the molecule lock (it creates containers with fixed names):
#   flock /tmp/molecule.lock bash extensions/testbed/cell-check.sh
# The emulator of this checkout is mounted over the image's copy (the stand-in images may be older than
# the code under test); LLMFLEET_CELL_CHECK_IMAGE_EMULATOR=1 uses the image's own. KEEP=1 keeps the hosts.
set -euo pipefail
mode="${1:-host}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
network="${LLMFLEET_TESTBED_NETWORK:-llmfleet-cellcheck}"
head=llmfleet-cellcheck-a worker=llmfleet-cellcheck-b
dist=5757 port=30000 image=lmsysorg/sglang:deepseek-v4-hopper
case "$mode" in
  host) net_opts=(--network host) ;;
  publish) net_opts=(-p "$port:$port" -p "$dist:$dist") ;;
  *) echo "cell-check: mode must be host or publish, got '$mode'" >&2; exit 2 ;;
esac

cleanup() {
  [ "${KEEP:-0}" = 1 ] && return
  bash "$here/destroy-host.sh" "$head" "$worker"
  docker network rm "$network" > /dev/null 2>&1 || true  # kept while another container still uses it
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }

for h in "$head" "$worker"; do
  LLMFLEET_TESTBED_NETWORK="$network" bash "$here/create-host.sh" "$h" h100x4 > /dev/null
done
head_ip="$(bash "$here/host-address.sh" "$head" "$network")"
worker_ip="$(bash "$here/host-address.sh" "$worker" "$network")"
say "test hosts on $network: $head $head_ip (rank 0), $worker $worker_ip (rank 1); engine containers: $mode"

mounts=()
if [ "${LLMFLEET_CELL_CHECK_IMAGE_EMULATOR:-0}" != 1 ]; then
  for h in "$head" "$worker"; do
    docker exec "$h" rm -rf /opt/llmfleet-cell-check
    docker exec "$h" mkdir -p /opt/llmfleet-cell-check
    docker cp -q "$repo/extensions/emulator/llmfleet_emulator" "$h:/opt/llmfleet-cell-check/"
    docker cp -q "$repo/plugins/module_utils/_engine_flags.py" "$h:/opt/llmfleet-cell-check/"
  done
  # The emulator finds the engine flag catalog beside itself (flag_catalog.py: <root>/plugins/module_utils).
  mounts=(-v /opt/llmfleet-cell-check/llmfleet_emulator:/opt/emulator/llmfleet_emulator:ro
          -v /opt/llmfleet-cell-check/_engine_flags.py:/plugins/module_utils/_engine_flags.py:ro)
fi

# rank R: the fleet planner's SGLang cell command, identical on every rank except --node-rank.
run_rank() {
  local host="$1" rank="$2"
  docker exec "$host" docker rm -f llmfleet-cell-rank > /dev/null 2>&1 || true
  docker exec "$host" docker run -d --name llmfleet-cell-rank --gpus all --ipc=host "${net_opts[@]}" \
    -e NCCL_SOCKET_IFNAME=eth0 -e GLOO_SOCKET_IFNAME=eth0 -e SGLANG_DSV4_FP4_EXPERTS=0 \
    -e EMULATOR_LOAD_SECONDS=1 "${mounts[@]}" "$image" \
    python3 -m sglang.launch_server --model-path sgl-project/DeepSeek-V4-Flash-FP8 --served-model-name deepseek \
    --tp 8 --nnodes 2 --node-rank "$rank" --dist-init-addr "$head_ip:$dist" --dist-timeout 3600 \
    --trust-remote-code --host 0.0.0.0 --port "$port" > /dev/null
}
health() {  # HOST: "<code> <body>" of GET /health on that test host's engine port
  docker exec "$1" curl -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$port/health" || true
}
wait_health() {  # HOST CODE: wait up to 60 s for /health to answer CODE
  for _ in $(seq 1 120); do
    case "$(health "$1")" in *" $2") return 0 ;; esac
    sleep 0.5
  done
  echo "cell-check: $1's /health never answered $2 (last: $(health "$1"))" >&2
  docker exec "$1" docker logs llmfleet-cell-rank >&2 || true
  exit 1
}

run_rank "$head" 0
sleep 3
say "head before rank 1 exists: GET /health ->"
health "$head"; echo
run_rank "$worker" 1
wait_health "$head" 200
wait_health "$worker" 200
say "head's rendezvous lines (docker logs in $head):"
docker exec "$head" docker logs llmfleet-cell-rank 2>&1 | grep -E 'rank [0-9]|fired up'
say "head ready: GET /health -> $(health "$head"); worker's dummy health -> $(health "$worker")"
docker exec "$head" docker logs llmfleet-cell-rank 2>&1 | grep "rank 1/2 joined from $worker_ip" > /dev/null \
  || { echo "cell-check: the head did not log rank 1 joining from $worker_ip" >&2; exit 1; }

say "killing rank 1 (docker kill in $worker)"
docker exec "$worker" docker kill llmfleet-cell-rank > /dev/null
wait_health "$head" 503
say "head after rank 1 died: GET /health ->"
health "$head"; echo
docker exec "$head" docker logs llmfleet-cell-rank 2>&1 | grep -E 'left the cell'
say "cell-check ($mode): OK"
