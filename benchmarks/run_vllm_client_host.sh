#!/usr/bin/env bash
# On a host without a package index (the lent GPU machine): unpack what pack_vllm_client.sh packed,
# make a `python` for vLLM's client that sees it, and run client_ceiling.py with both clients.
# Our client runs on the host's own python3 (standard library, aiohttp, uvloop).
#
#   bash benchmarks/run_vllm_client_host.sh PACK_DIR -- [client_ceiling.py arguments]
# e.g. (16 cores):
#   bash benchmarks/run_vllm_client_host.sh .build/devcarry -- --workers 6 --emulator-workers 10 \
#       --levels 128,256,384,512,1024,2048,3072 --rates 500,1000,1500,2000,4000,8000,12000 --repeats 1
set -euo pipefail
cd "$(dirname "$0")/.."

PACK_DIR="${1:?usage: run_vllm_client_host.sh PACK_DIR -- [client_ceiling.py arguments]}"
shift
[ "${1:-}" = "--" ] && shift
SITE="${VLLM_SITE:-/tmp/llmfleet-vllm-site}"
PYTHON="${PYTHON:-python3}"

mkdir -p "$SITE"
tar -C "$SITE" -xJf "$PACK_DIR/vsite.tar.xz"
"$PYTHON" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target "$SITE" "$PACK_DIR"/whl/*.whl
python_path="$(command -v "$PYTHON")"
case "$python_path" in /*) ;; *) python_path="$PWD/$python_path" ;; esac  # not resolved: a venv's python stays one
wrapper="$SITE/python"
# shellcheck disable=SC2016  # $PYTHONPATH and $@ are for the wrapper to expand
printf '#!/bin/sh\nPYTHONPATH=%s${PYTHONPATH:+:$PYTHONPATH} exec %s "$@"\n' "$SITE" "$python_path" >"$wrapper"
chmod +x "$wrapper"
VLLM_TARGET_DEVICE=cpu "$wrapper" -c 'import importlib.metadata as m, vllm.benchmarks.serve; print("vllm bench serve", m.version("vllm"))' \
  2>&1 | tail -n 1
export PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/client_ceiling.py --vllm-python "$wrapper" "$@"
