# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Built-in model profiles and engine facts, as plain data.

Nothing here branches: ``_plan.py`` reads these tables. A user profile (the ``profiles`` option
of ``serving_plan``) has the same shape as an entry of ``PROFILES`` and replaces a built-in one
of the same name as a whole.

Profile shape (checked by ``_plan_profile.validate_profile``):

- ``builds``: build name -> ``model_id``, ``size_gb`` (weights on disk, decimal GB), ``label``.
- ``kv_headroom_gb``: GB per GPU that must stay free for KV cache and activations after the weights,
  inside the engine's memory fraction.
- ``auto_engine``: GPU architecture -> engines to try, best first, and the sentence saying why.
- ``unsupported``: GPUs the model cannot run on, with the reason the user sees.
- ``deployments``: tried in order; the first whose ``engine`` and GPU match wins. GPU match keys
  (``unsupported`` uses them too): ``products`` (first word of the product name, so ``H100`` matches
  ``H100 80GB HBM3``), ``architectures``, ``compute_capabilities``; every key given must match. An entry with ``refuse``
  stops the plan with that reason. ``command`` is the argument vector after the image; whole tokens
  ``{model_id}``, ``{served_model_name}``, ``{tensor_parallel_size}``, ``{mem_fraction}``, ``{port}``
  are replaced, and ``{speculative}`` becomes ``speculative_args`` (or nothing when speculative
  decoding is off). ``engine_version`` (optional) names the engine release whose flag catalog
  checks ``extra_args`` (default: the engine's ``catalog_version``).

Sources: the seed guide (``seed/deepseek-v4-flash-deployment-guide.txt``) for the three default
deployments, REFERENCE.md section 2 (engine recipes and cookbook) for the rest.
"""

from __future__ import annotations

# Where the engine's images come from and how each takes secrets. ``flag_aliases`` maps other
# spellings of a flag to the one the profiles use, so a duplicate in extra_args is caught.
ENGINES = {
    "vllm": {
        "label": "vLLM",
        # The release whose `vllm serve` flags extra_args are checked against (_engine_flags.py, made by
        # extensions/engine-flags/generate.py); a deployment names another with `engine_version`.
        "catalog_version": "0.33.0",
        # vLLM's image entrypoint is the server (`vllm serve`), which listens on 8000 by default.
        "listen_port": 8000,
        "port_args": ["--port", "{port}"],
        "flag_underscores_are_dashes": True,
        "flag_aliases": {
            "-tp": "--tensor-parallel-size",
        },
        # Flags that the planner sets from one of its options: extra_args must use the option.
        "flag_options": {
            "--model": "model (the profile's build)",
            "--served-model-name": "served_model_name",
            "--tensor-parallel-size": "tensor_parallel_size",
            "--port": "port",
            "--speculative-config": "speculative",
            "--gpu-memory-utilization": "profiles (the deployment's mem_fraction)",
        },
        "secret_flags": ["--api-key"],
        "secret_env": ["VLLM_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
        "secrets": {
            "api_key": {"via": "env", "name": "VLLM_API_KEY"},
            "hf_token": {"via": "file", "env": "HF_TOKEN_PATH", "mount": "/run/secrets/hf_token"},
        },
        # Packed replicas (several containers on one host, replicas_per_host > 1): arguments each replica
        # adds besides its own --port. vLLM's single-host tensor parallel group finds a free port itself
        # (vllm/utils get_open_port for the distributed init), so no other port needs moving.
        "replica_args": [],
        # First port of the engine's distributed traffic (dist_port option): vLLM's data parallel RPC port
        # (--data-parallel-rpc-port; vllm/config/parallel.py's default is 29550, 13345 is the one in
        # docs/serving/data_parallel_deployment.md), and how many ports from it the head listens on.
        "dist_port": 13345,
        "dist_port_span": 1,
        # A cell (hosts that run one engine together): data parallel x expert parallel across the hosts,
        # tensor parallel inside each host (docs/serving/data_parallel_deployment.md, "multi-node").
        # Tokens are whole-token placeholders, as in a deployment's command.
        "multinode": {
            "tensor_parallel": "host",
            "args": [
                "--data-parallel-size",
                "{dp_size}",
                "--data-parallel-size-local",
                "{dp_size_local}",
                "--data-parallel-address",
                "{head_address}",
                "--data-parallel-rpc-port",
                "{dist_port}",
            ],
            "worker_args": ["--headless", "--data-parallel-start-rank", "{dp_start_rank}"],
            # Expert parallel on every node of a DP cell (the same document); added when the deployment lacks it.
            "needs": ["--enable-expert-parallel"],
            # --headless starts no API server: a worker has no HTTP port at all.
            "worker_listens": False,
            "fabric_env": ["NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME"],
        },
    },
    "sglang": {
        "label": "SGLang",
        "catalog_version": "0.5.23",
        # The SGLang image has no entrypoint; the command starts the server and names the port.
        "listen_port": 30000,
        "port_args": ["--port", "{port}"],
        "flag_underscores_are_dashes": False,
        "flag_aliases": {
            "--tp-size": "--tp",
            "--tensor-parallel-size": "--tp",
            "--model": "--model-path",
            "--speculative-algorithm": "--speculative-algo",
        },
        "flag_options": {
            "--model-path": "model (the profile's build)",
            "--served-model-name": "served_model_name",
            "--tp": "tensor_parallel_size",
            "--port": "port",
            "--speculative-algo": "speculative",
            "--mem-fraction-static": "profiles (the deployment's mem_fraction)",
        },
        "secret_flags": ["--api-key"],
        "secret_env": ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
        "secrets": {
            "api_key": {"via": "arg", "name": "--api-key"},
            "hf_token": {"via": "file", "env": "HF_TOKEN_PATH", "mount": "/run/secrets/hf_token"},
        },
        # Packed replicas: without --nccl-port SGLang takes a port that is free at start for its NCCL init
        # (srt/server_args.py PortArgs.init_new: get_free_port(); older releases port + random), so two
        # replicas starting at once could take the same one; each replica gets dist_port + its index instead.
        "replica_args": ["--nccl-port", "{dist_port}"],
        # --dist-init-addr HEAD:dist_port of a cell; the head also listens on dist_port + 1 and up
        # (PortArgs.init_new: port_base = dist_init_port + 1, tokenizer, detokenizer, rpc, scheduler
        # input and metrics ports above it), hence the span.
        "dist_port": 20000,
        "dist_port_span": 10,
        # A cell: one tensor parallel group over every GPU of every host (docs/references/multi_node_deployment/
        # multi_node.md): --tp is the cell's GPU count and each rank runs the same command but --node-rank.
        # --dist-timeout defaults to None (torch's 10 minutes for NCCL); REFERENCE.md section 3: maintainers
        # advise 3600 s, as loading 284 GB over several hosts can take most of an hour.
        "multinode": {
            "tensor_parallel": "cell",
            "args": [
                "--nnodes",
                "{nnodes}",
                "--node-rank",
                "{node_rank}",
                "--dist-init-addr",
                "{dist_init_addr}",
                "--dist-timeout",
                "3600",
            ],
            "worker_args": [],
            "needs": [],
            # Ranks >= 1 start a dummy health server on --port (answers 200 on /health no matter what):
            # they listen, but serve no API, so they never go behind a router.
            "worker_listens": True,
            "fabric_env": ["NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME"],
        },
    },
}

# Oldest driver for the CUDA version in an image tag (NVIDIA CUDA toolkit release notes;
# cu130 and cu129 as REFERENCE.md section 1 states them).
CUDA_DRIVER_FLOORS = {
    "cu130": {"cuda": "13.0", "min_driver": "580"},
    "cu129": {"cuda": "12.9", "min_driver": "575"},
    "cu128": {"cuda": "12.8", "min_driver": "570"},
    "cu126": {"cuda": "12.6", "min_driver": "560"},
}

# The seed's SGLang command on B200, token for token ({speculative} marks the EAGLE flags' place).
_SGLANG_BLACKWELL_COMMAND = [
    "python3",
    "-m",
    "sglang.launch_server",
    "--model-path",
    "{model_id}",
    "--served-model-name",
    "{served_model_name}",
    "--tp",
    "{tensor_parallel_size}",
    "--host",
    "0.0.0.0",
    "--port",
    "{port}",
    "--trust-remote-code",
    "--mem-fraction-static",
    "{mem_fraction}",
    "--moe-runner-backend",
    "flashinfer_mxfp4",
    "{speculative}",
    "--chunked-prefill-size",
    "4096",
    "--disable-flashinfer-autotune",
]

# The seed's SGLang command on H100: as on B200 without the Blackwell-only FP4 MoE kernel.
_SGLANG_HOPPER_COMMAND = [
    "python3",
    "-m",
    "sglang.launch_server",
    "--model-path",
    "{model_id}",
    "--served-model-name",
    "{served_model_name}",
    "--tp",
    "{tensor_parallel_size}",
    "--host",
    "0.0.0.0",
    "--port",
    "{port}",
    "--trust-remote-code",
    "--mem-fraction-static",
    "{mem_fraction}",
    "{speculative}",
    "--chunked-prefill-size",
    "4096",
    "--disable-flashinfer-autotune",
]

# EAGLE 3/1/4, as both seed SGLang commands run it.
_SGLANG_EAGLE = [
    "--speculative-algo",
    "EAGLE",
    "--speculative-num-steps",
    "3",
    "--speculative-eagle-topk",
    "1",
    "--speculative-num-draft-tokens",
    "4",
]

# The seed's vLLM command on B200 (arguments after the image; the entrypoint is `vllm serve`).
_VLLM_BLACKWELL_COMMAND = [
    "--model",
    "{model_id}",
    "--served-model-name",
    "{served_model_name}",
    "--tensor-parallel-size",
    "{tensor_parallel_size}",
    "--enable-expert-parallel",
    "--kv-cache-dtype",
    "fp8",
    "--block-size",
    "256",
    "--max-model-len",
    "auto",
    "--trust-remote-code",
    "--gpu-memory-utilization",
    "{mem_fraction}",
    "--tokenizer-mode",
    "deepseek_v4",
    "--no-disable-hybrid-kv-cache-manager",
    "--tool-call-parser",
    "deepseek_v4",
    "--enable-auto-tool-choice",
    "--reasoning-parser",
    "deepseek_v4",
    "{speculative}",
]

# vLLM recipe's MTP speculative decoding on Blackwell (2 tokens); opt-in: the seed's vLLM run had none.
_VLLM_BLACKWELL_MTP = ["--speculative_config", '{"method":"mtp","num_speculative_tokens":2}']

_SEED = "seed guide (deepseek-v4-flash-deployment-guide.txt)"
_VLLM_RECIPE = "REFERENCE.md section 2: vLLM DeepSeek-V4 recipe (min vLLM 0.20.0)"
_SGLANG_COOKBOOK = "REFERENCE.md section 2: SGLang DeepSeek-V4 cookbook"

PROFILES = {
    "deepseek-v4-flash": {
        "description": "DeepSeek-V4-Flash, 284B MoE (13B active), 1M context",
        "source": _SEED + "; " + "REFERENCE.md section 2",
        "readiness": {"health_path": "/health", "models_path": "/v1/models", "timeout_s": 3600},
        # V4 keeps KV small (compressed attention, FP8 KV cache); 10 GB per GPU still leaves room for
        # a long context and the CUDA graphs. An assumption of this collection, not a vendor figure.
        "kv_headroom_gb": 10,
        "builds": {
            "native": {
                "model_id": "deepseek-ai/DeepSeek-V4-Flash",
                "size_gb": 146,
                "label": "native FP4+FP8 build",
                "source": _SEED + ": ~146 GB on disk, FP4 experts need Blackwell",
            },
            "fp8": {
                "model_id": "sgl-project/DeepSeek-V4-Flash-FP8",
                "size_gb": 284,
                "label": "FP8 build",
                "source": _SEED + ": ~284 GB on disk, the quantized release for Hopper (SGLang only)",
            },
        },
        "auto_engine": {
            "blackwell": {
                "prefer": ["vllm", "sglang"],
                "reason": "on Blackwell vLLM gave the seed's best measured B200 output throughput, "
                "1,469 tok/s (SGLang with EAGLE: 1,222 tok/s)",
            },
            "hopper": {
                "prefer": ["sglang"],
                "reason": "Hopper is SGLang-only in the seed, which serves it the FP8 build",
            },
        },
        "unsupported": [
            {
                "architectures": ["ampere"],
                "reason": "Ampere has no FP8 tensor cores and the V4 kernels refuse sm_80",
                "source": "REFERENCE.md sections 1 and 2",
            },
            {
                "architectures": ["ada"],
                "reason": "Ada has no FP4 tensor cores and the V4 kernels fail on sm_89",
                "source": "REFERENCE.md sections 1 and 2",
            },
            {
                "architectures": ["blackwell-consumer"],
                "reason": "DeepGEMM lacks sm_120/sm_121 kernels in the day-0 DeepSeek-V4 images",
                "source": "REFERENCE.md section 2",
            },
            {
                # The same GPUs, should the fact name their architecture differently.
                "compute_capabilities": ["12.0", "12.1"],
                "reason": "DeepGEMM lacks sm_120/sm_121 kernels in the day-0 DeepSeek-V4 images",
                "source": "REFERENCE.md section 2",
            },
        ],
        "deployments": [
            {
                "name": "b200-vllm",
                "engine": "vllm",
                "products": ["B200"],
                "build": "native",
                "image": "vllm/vllm-openai:deepseekv4-cu130",
                "tensor_parallel_size": 4,
                "mem_fraction": 0.9,
                "env": {},
                "command": _VLLM_BLACKWELL_COMMAND,
                "speculative_args": _VLLM_BLACKWELL_MTP,
                "speculative_default": False,
                "source": _SEED + ": NVIDIA HGX B200, vLLM command",
                "note": "MTP speculative decoding (speculative: true) is the vLLM recipe's, not the seed's.",
            },
            {
                "name": "b200-sglang",
                "engine": "sglang",
                "products": ["B200"],
                "build": "native",
                "image": "lmsysorg/sglang:deepseek-v4-blackwell",
                "tensor_parallel_size": 4,
                "mem_fraction": 0.9,
                "env": {},
                "command": _SGLANG_BLACKWELL_COMMAND,
                "speculative_args": _SGLANG_EAGLE,
                "speculative_default": True,
                "source": _SEED + ": NVIDIA HGX B200, SGLang command",
                "note": "The cookbook adds --swa-full-tokens-ratio 0.1 on Blackwell; opt in through extra_args.",
            },
            {
                "name": "b300-vllm",
                "engine": "vllm",
                "products": ["B300"],
                "build": "native",
                "image": "vllm/vllm-openai:deepseekv4-cu130",
                "tensor_parallel_size": 4,
                "mem_fraction": 0.9,
                "env": {},
                "command": _VLLM_BLACKWELL_COMMAND,
                "speculative_args": _VLLM_BLACKWELL_MTP,
                "speculative_default": False,
                "source": _VLLM_RECIPE + " verifies B300; flags are the seed's B200 vLLM command",
                "note": "The recipe's Blackwell extras (--attention_config.use_fp4_indexer_cache=True "
                "--moe-backend deep_gemm_mega_moe) are opt-in through extra_args.",
            },
            {
                "name": "b300-sglang",
                "engine": "sglang",
                "products": ["B300"],
                "build": "native",
                "image": "lmsysorg/sglang:deepseek-v4-b300",
                "tensor_parallel_size": 4,
                "mem_fraction": 0.9,
                "env": {},
                "command": _SGLANG_BLACKWELL_COMMAND,
                "speculative_args": _SGLANG_EAGLE,
                "speculative_default": True,
                "source": _SGLANG_COOKBOOK + " (B300 image); flags are the seed's B200 SGLang command",
                "note": "The cookbook adds --swa-full-tokens-ratio 0.1 on B300; opt in through extra_args.",
            },
            {
                "name": "gb200-vllm",
                "engine": "vllm",
                "products": ["GB200", "GB300"],
                "build": "native",
                "image": "vllm/vllm-openai:deepseekv4-cu130",
                "tensor_parallel_size": 4,
                "mem_fraction": 0.9,
                "env": {},
                "command": _VLLM_BLACKWELL_COMMAND,
                "speculative_args": _VLLM_BLACKWELL_MTP,
                "speculative_default": False,
                "source": _VLLM_RECIPE + " verifies GB200 and GB300; flags are the seed's B200 vLLM command",
                "note": "Grace hosts are aarch64: the image must exist for linux/arm64.",
            },
            {
                "name": "gb200-sglang",
                "engine": "sglang",
                "products": ["GB200", "GB300"],
                "build": "native",
                "image": "lmsysorg/sglang:deepseek-v4-grace-blackwell",
                "tensor_parallel_size": 4,
                "mem_fraction": 0.9,
                "env": {},
                "command": _SGLANG_BLACKWELL_COMMAND,
                "speculative_args": _SGLANG_EAGLE,
                "speculative_default": True,
                "source": _SGLANG_COOKBOOK + " (Grace Blackwell image); flags are the seed's B200 SGLang command",
                "note": "Grace hosts are aarch64; the cookbook adds --swa-full-tokens-ratio 0.1 (extra_args).",
            },
            {
                "name": "h100-sglang",
                "engine": "sglang",
                "products": ["H100"],
                "build": "fp8",
                "image": "lmsysorg/sglang:deepseek-v4-hopper",
                "tensor_parallel_size": 8,
                "mem_fraction": 0.85,
                "env": {"SGLANG_DSV4_FP4_EXPERTS": "0"},
                "command": _SGLANG_HOPPER_COMMAND,
                "speculative_args": _SGLANG_EAGLE,
                "speculative_default": True,
                "source": _SEED + ": NVIDIA HGX H100, SGLang command",
                "note": "SGLANG_DSV4_FP4_EXPERTS=0 keeps SGLang off the FP4 kernel Hopper lacks.",
            },
            {
                "name": "h200-sglang",
                "engine": "sglang",
                "products": ["H200"],
                "build": "fp8",
                "image": "lmsysorg/sglang:deepseek-v4-hopper",
                "tensor_parallel_size": 4,
                "mem_fraction": 0.85,
                "env": {"SGLANG_DSV4_FP4_EXPERTS": "0"},
                "command": _SGLANG_HOPPER_COMMAND,
                "speculative_args": _SGLANG_EAGLE,
                "speculative_default": True,
                "source": _SGLANG_COOKBOOK + ": FP8 build at --tp 4 on H200; other flags are the seed's H100 command",
                "note": "141 GB per GPU holds 284 GB / 4 = 71 GB of weights with room for the KV cache.",
            },
            {
                "name": "h100-vllm",
                "engine": "vllm",
                "products": ["H100"],
                "refuse": "vLLM's DeepSeek-V4 recipe does not list H100, and the FP8 build that Hopper needs "
                "is SGLang-only (vLLM does not serve sgl-project/DeepSeek-V4-Flash-FP8); "
                "use engine: sglang (or auto), which serves the FP8 build as the seed does",
                "source": _VLLM_RECIPE + "; " + _SEED,
            },
            {
                "name": "hopper-vllm",
                "engine": "vllm",
                "architectures": ["hopper"],
                "refuse": "the FP8 build is SGLang-only, and vLLM's Hopper path (the native build through "
                "Marlin W4A16 experts, image vllm/vllm-openai:deepseekv4-cu129) comes without flags "
                "this collection has verified; use engine: sglang (or auto), or add a user profile "
                "deployment (profiles option) with vLLM flags you have verified",
                "source": _VLLM_RECIPE,
            },
        ],
    },
}
