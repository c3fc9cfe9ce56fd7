#!/usr/bin/env bash
# A separate virtual environment with `vllm bench serve` (its benchmark module only) for
# benchmarks/client_ceiling.py: vLLM without its dependencies, the CPU build of torch, and the few
# packages vllm/benchmarks/serve.py imports. Nothing here touches the project's .venv.
#
#   bash benchmarks/setup_vllm_venv.sh [VENV_DIR]      (default: .build/vllm-venv)
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_VERSION="${VLLM_VERSION:-0.33.0}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
VENV="${1:-.build/vllm-venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
# CPU torch: vllm.utils imports it; the benchmark never touches a GPU. The CPU wheel comes from the
# machine's wheel directory (pip's find-links), as PyPI's default torch build is the CUDA one.
"${PIP[@]}" "torch==${TORCH_VERSION}"
"${PIP[@]}" --no-deps "vllm==${VLLM_VERSION}"
# What vllm.benchmarks.serve and the modules it imports need (found by importing it). Never a plain
# `pip install vllm` here: that would pull CUDA torch, flashinfer and the CUDA libraries (gigabytes).
"${PIP[@]}" aiohttp numpy tqdm regex "transformers<5.21" tokenizers pillow pyyaml psutil pydantic \
  cachetools msgspec cloudpickle typing_extensions requests sentencepiece protobuf openai fastapi \
  prometheus_client pyzmq blake3 cbor2 huggingface_hub uvloop setproctitle pybase64 openai-harmony \
  py-cpuinfo einops
# imported at module level by vLLM's structured-output code; their own dependencies are not needed
"${PIP[@]}" --no-deps xgrammar apache-tvm-ffi partial-json-parser llguidance
"$VENV/bin/python" - <<'EOF'
import importlib, sys
import vllm.benchmarks.serve as serve  # noqa: F401  (fails here, not in the middle of a benchmark)
print("vllm bench serve importable:", importlib.metadata.version("vllm"), "python", sys.version.split()[0])
EOF
