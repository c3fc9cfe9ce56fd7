#!/usr/bin/env bash
# make demo: bring up the local testbed fleet (inventories/local), then run playbooks/site.yml
# against it: detect GPUs, plan, write the units, start the engines, verify, print the fleet table.
# The GPUs and the engines' inference are emulated (extensions/testbed, extensions/emulator);
# systemd, dockerd, the units and the HTTP traffic are real.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
bash extensions/testbed/build-images.sh
inventory="${LLMFLEET_DEMO_INVENTORY:-inventories/local}"
while read -r host gpus port; do
  bash extensions/testbed/create-host.sh "llmfleet-demo-$host" "$gpus" "$port"
done < <(ansible-inventory -i "$inventory" --list | python3 -c '
import json, sys
inv = json.load(sys.stdin)
for host, hv in sorted(inv["_meta"]["hostvars"].items()):
    print(host, hv["testbed_gpus"], hv.get("testbed_published_port", ""))')
ansible-playbook -i "$inventory" playbooks/site.yml "$@"
echo
echo "demo: the fleet is up. Try: curl -s http://127.0.0.1:18001/v1/models"
echo "demo: benchmark it:  ansible-playbook -i $inventory playbooks/benchmark.yml -e benchmark_num_prompts=32"
echo "demo: tear it down:  make demo-down"
