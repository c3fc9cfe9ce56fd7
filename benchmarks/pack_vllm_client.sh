#!/usr/bin/env bash
# Pack vLLM's benchmark client (`vllm bench serve`) for a host that has no package index and another
# Python than this machine: the lent GPU machine (Python 3.12, PyTorch, numpy, aiohttp, tokenizers in
# its image; no network). The client ceiling needs more cores than a 2-core development machine, and
# vLLM's client venv (2.2 GB, CPU torch included) is far over what travels there (64 MiB).
#
# What travels (about 28 MB, in OUT_DIR, default .build/devcarry):
#   vsite.tar.xz  the pure-Python packages vllm.benchmarks.serve imports that the host lacks, copied
#                 from .build/vllm-venv (setup_vllm_venv.sh), vllm itself without its CUDA kernels,
#                 headers and bytecode (the benchmark runs none of them; run_vllm_client_host.sh
#                 makes vLLM take its CPU platform); transformers and huggingface_hub in the versions
#                 vllm 0.33 ran with here.
#   whl/          the compiled ones, as wheels for the host's Python (PY_VERSION, default 3.12).
# The host's own torch, numpy, aiohttp, tokenizers, uvloop and the like are used as they are.
#
#   bash benchmarks/pack_vllm_client.sh [OUT_DIR]
# then on the host: bash benchmarks/run_vllm_client_host.sh OUT_DIR -- <client_ceiling.py arguments>
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${1:-.build/devcarry}"
VENV="${VENV:-.build/vllm-venv}"
PY_VERSION="${PY_VERSION:-3.12}"
SITE="$(echo "$VENV"/lib/python3*/site-packages)"
[ -d "$SITE/vllm" ] || { echo "no vLLM in $VENV: run bash benchmarks/setup_vllm_venv.sh first" >&2; exit 2; }

# Pure Python: found by importing vllm.benchmarks.serve in the venv and keeping what the GPU image
# (device KINDS.md, "Python packages already there") does not hold, or holds in other versions.
PURE=(vllm transformers huggingface_hub openai fastapi starlette pydantic annotated_doc annotated_types
      cachetools httpcore2 httpx2 opentelemetry partial_json_parser sniffio truststore typing_inspection
      typing_extensions.py)
# Compiled: the same versions as in the venv, built for the host's Python.
COMPILED=(cbor2 llguidance msgspec openai-harmony pybase64 pydantic-core apache-tvm-ffi xgrammar pyzmq)

rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR/whl"
# Their .dist-info folders (importlib.metadata needs them: vllm reads its own version, transformers
# checks its dependencies'), from the distributions that own these top-level names.
dist_dirs="$("$VENV/bin/python" - "${PURE[@]}" <<'EOF'
import sys, importlib.metadata as md
owners = md.packages_distributions()
for top in sys.argv[1:]:
    for dist in owners[top.removesuffix(".py")]:
        record = next(f for f in md.distribution(dist).files if f.name == "RECORD")
        print(record.parent)
EOF
)"  # an assignment, so that a name without a distribution stops the script (set -e)
mapfile -t dists <<<"$dist_dirs"
tar -C "$SITE" -cf - --exclude='*.so' --exclude='*.pyc' --exclude=__pycache__ --exclude='*.h' \
  --exclude='*.hpp' --exclude='*.cuh' --exclude='*.inl' --exclude='*.cu' --exclude='*.cpp' \
  --exclude='vllm/vllm-rs' "${PURE[@]}" "${dists[@]}" | xz -T0 -6 >"$OUT_DIR/vsite.tar.xz"

pins=()
for name in "${COMPILED[@]}"; do
  pins+=("$name==$("$VENV/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$name")")
done
platforms=()
for p in manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_26 \
         manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${p}_x86_64")
done
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version "$PY_VERSION" --implementation cp "${platforms[@]}" -d "$OUT_DIR/whl" "${pins[@]}"
echo "packed for Python $PY_VERSION in $OUT_DIR: $(du -sh "$OUT_DIR" | cut -f1) (${pins[*]})"
