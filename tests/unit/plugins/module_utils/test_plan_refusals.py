"""Every plan the planner refuses, with the message a user sees: what was found, why not, what would work."""

import pytest
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan

WHAT_WORKS = (
    "What works: B200 (vllm, sglang), B300 (vllm, sglang), GB200 (vllm, sglang), GB300 (vllm, sglang), "
    "H100 (sglang), H200 (sglang)"
)

REFUSALS = {
    "unknown model": (
        dict(gpus=samples.b200x8(), model="llama-4"),
        ["model 'llama-4' is not a known profile", "known profiles: deepseek-v4-flash", "profiles option"],
    ),
    "unknown engine": (
        dict(gpus=samples.b200x8(), engine="trtllm"),
        ["engine 'trtllm' is not known", "vllm, sglang, auto"],
    ),
    "no GPU (present false)": (
        dict(gpus=samples.absent()),
        ["gpus: no GPU found (present: false, count: 0)", "run the plan on a GPU host"],
    ),
    "no GPU (count 0)": (dict(gpus=samples.gpus("H100", 0)), ["no GPU found (present: true, count: 0)"]),
    "mixed GPUs": (
        dict(gpus=samples.mixed()),
        ["GPUs of different models", "2 x NVIDIA H100 80GB HBM3, 6 x NVIDIA H200", "all the same model"],
    ),
    "MIG enabled": (
        dict(gpus=samples.mig()),
        ["MIG mode is Enabled (GPU 0, 3)", "disable MIG (nvidia-smi -i N -mig 0"],
    ),
    "A100": (
        dict(gpus=samples.gpus("A100")),
        [
            "8 x A100 (ampere, compute capability 8.0) cannot serve deepseek-v4-flash",
            "no FP8 tensor cores",
            "sm_80",
            WHAT_WORKS,
        ],
    ),
    "L40S": (
        dict(gpus=samples.gpus("L40S")),
        ["8 x L40S (ada, compute capability 8.9)", "no FP4 tensor cores", "sm_89", WHAT_WORKS],
    ),
    "L20": (dict(gpus=samples.gpus("L20", 4)), ["4 x L20 (ada, compute capability 8.9)", "sm_89"]),
    "RTX PRO 6000 (sm_120)": (
        dict(gpus=samples.gpus("RTX PRO 6000", 4)),
        ["4 x RTX PRO 6000 (blackwell-consumer, compute capability 12.0)", "DeepGEMM lacks sm_120", WHAT_WORKS],
    ),
    "sm_120 reported as plain blackwell": (
        dict(gpus=samples.gpus("RTX PRO 6000", 4, architecture="blackwell")),
        ["compute capability 12.0", "DeepGEMM lacks sm_120"],
    ),
    "vllm on H100": (
        dict(gpus=samples.h100x8(), engine="vllm"),
        [
            "engine vllm on 8 x H100 (hopper, compute capability 9.0)",
            "does not list H100",
            "SGLang-only",
            "use engine: sglang",
        ],
    ),
    "vllm on H200": (
        dict(gpus=samples.h200x4(), engine="vllm"),
        ["engine vllm on 4 x H200 (hopper", "FP8 build is SGLang-only", "deepseekv4-cu129", "use engine: sglang"],
    ),
    "GPU with no deployment (H20)": (
        dict(gpus=samples.gpus("H20")),
        [
            "engine auto: profile deepseek-v4-flash has no deployment that serves 8 x H20",
            "it serves B200 (vllm, sglang)",
            "add a deployment through the profiles option",
        ],
    ),
    "sglang on a GPU without an sglang deployment": (
        dict(gpus=samples.gpus("H20"), engine="sglang"),
        ["engine sglang: profile deepseek-v4-flash has no sglang deployment for 8 x H20"],
    ),
    "tp does not divide": (
        dict(gpus=samples.h100x8(), tensor_parallel_size=3),
        ["tensor_parallel_size 3 does not divide the 8 GPUs found", "valid values on this host: 1, 2, 4, 8"],
    ),
    "tp exceeds": (
        dict(gpus=samples.h200x4(), tensor_parallel_size=8),
        ["tensor_parallel_size 8 exceeds the 4 GPUs found", "valid values on this host: 1, 2, 4"],
    ),
    "tp zero": (
        dict(gpus=samples.h100x8(), tensor_parallel_size=0),
        ["tensor_parallel_size must be a whole number >= 1, found int 0", "1, 2, 4, 8"],
    ),
    "weights do not fit (user tp)": (
        dict(gpus=samples.h100x8(), tensor_parallel_size=2),
        [
            "weights do not fit: FP8 build sgl-project/DeepSeek-V4-Flash-FP8 284 GB / tensor_parallel_size 2 = 142 GB "
            "per GPU + 10 GB KV-cache headroom = 152 GB, but 0.85 x 85.5 GB (H100, 81559 MiB) = 72.7 GB per GPU usable",
            "use tensor_parallel_size 8 or a GPU with more memory",
        ],
    ),
    "weights do not fit (too few GPUs)": (
        dict(gpus=samples.gpus("H100", 4)),
        [
            "284 GB / tensor_parallel_size 4 = 71 GB per GPU",
            "72.7 GB per GPU usable",
            "at least 5 such GPUs (e.g. tensor_parallel_size 8 on a host with 8), and this host has 4",
        ],
    ),
    "weights do not fit (one H200)": (
        dict(gpus=samples.gpus("H200", 1)),
        ["284 GB / tensor_parallel_size 1 = 284 GB per GPU", "0.85 x 150.8 GB", "this host has 1"],
    ),
    "driver too old for cu130": (
        dict(gpus=samples.b200x8(driver="575.57.08"), engine="vllm"),
        [
            "gpus.driver_version 575.57.08 is older than image vllm/vllm-openai:deepseekv4-cu130 needs",
            "tag cu130 (CUDA 13.0) needs driver >= 580",
            "upgrade the NVIDIA driver to 580 or newer",
            "cu129 (driver >= 575)",
        ],
    ),
    "user image with a cu130 tag on an old driver": (
        dict(gpus=samples.b200x8(driver="570.124.06"), engine="sglang", image="lmsysorg/sglang:v0.6-cu130"),
        [
            "driver_version 570.124.06 is older than the user's image lmsysorg/sglang:v0.6-cu130 needs",
            ">= 580",
            "cu128 (driver >= 570)",
        ],
    ),
    "user image with a cu129 tag on a 560 driver": (
        dict(gpus=samples.b200x8(driver="560.35.03"), image="vllm/vllm-openai:deepseekv4-cu129"),
        ["560.35.03", "needs driver >= 575", "cu126 (driver >= 560)"],
    ),
    "extra_args duplicate (sglang alias)": (
        dict(gpus=samples.b200x8(), engine="sglang", extra_args=["--tp-size=2"]),
        [
            "extra_args: '--tp-size=2' duplicates '--tp 4' that deployment b200-sglang already sets",
            "set it through the tensor_parallel_size option",
        ],
    ),
    "extra_args duplicate (vllm underscores)": (
        dict(gpus=samples.b200x8(), extra_args=["--kv_cache_dtype", "auto"]),
        ["'--kv_cache_dtype' duplicates '--kv-cache-dtype fp8'", "override the profile's deployment"],
    ),
    "extra_args duplicate (vllm --no- switch)": (
        dict(gpus=samples.b200x8(), extra_args=["--disable-hybrid-kv-cache-manager"]),
        ["'--disable-hybrid-kv-cache-manager' duplicates '--no-disable-hybrid-kv-cache-manager'"],
    ),
    "extra_args duplicate of the speculative flags": (
        dict(gpus=samples.h100x8(), extra_args=["--speculative-num-steps", "5"]),
        ["duplicates '--speculative-num-steps 3'"],
    ),
    "extra_args with a flag an option owns (vLLM port)": (
        dict(gpus=samples.b200x8(), extra_args=["--port=9000"]),
        ["extra_args: '--port=9000' is what the plan sets from its port option; set it there instead"],
    ),
    "extra_args with a secret": (
        dict(gpus=samples.b200x8(), engine="sglang", extra_args=["--api-key", "abc"]),
        ["extra_args: '--api-key' would put a secret on the command line", "plan.secrets.api_key"],
    ),
    "env with a secret": (
        dict(gpus=samples.b200x8(), env={"HF_TOKEN": "hf_x"}),
        ["env.HF_TOKEN: secrets never enter the plan", "serve role"],
    ),
    "env with a boolean": (
        dict(gpus=samples.b200x8(), env={"SGLANG_ENABLE_SPEC_V2": True}),
        ["env.SGLANG_ENABLE_SPEC_V2: found bool true", "quote it"],
    ),
    "env with a bad name": (
        dict(gpus=samples.b200x8(), env={"1BAD": "x"}),
        ["env: variable name str \"1BAD\" is not valid"],
    ),
    "port 0": (dict(gpus=samples.b200x8(), port=0), ["port int 0 is outside 1-65535", "8000"]),
    "port 70000": (dict(gpus=samples.b200x8(), port=70000), ["port int 70000 is outside 1-65535"]),
    "hf_cache_dir relative to ~": (
        dict(gpus=samples.b200x8(), hf_cache_dir="~/.cache/huggingface"),
        ["hf_cache_dir str \"~/.cache/huggingface\" is not an absolute path", "use /root/.cache/huggingface"],
    ),
    "container name": (
        dict(gpus=samples.b200x8(), container_name="bad name"),
        ["container_name str \"bad name\" is not a valid container name"],
    ),
    "gpus not the fact": (
        dict(gpus={"count": 8}),
        [
            "gpus: keys product, architecture, compute_capability, memory_mib, uniform, mig_enabled are missing",
            "llmfleet.serving.gpu_facts",
        ],
    ),
}


@pytest.mark.parametrize("kwargs, expected", list(REFUSALS.values()), ids=list(REFUSALS))
def test_refusal_message_names_what_why_and_what_works(kwargs, expected):
    with pytest.raises(PlanError) as caught:
        build_plan(**kwargs)
    for part in expected:
        assert part in str(caught.value)


def test_speculative_true_without_speculative_args_is_refused():
    profile = {
        "builds": {"b": {"model_id": "org/m", "size_gb": 10}},
        "deployments": [
            {
                "name": "d",
                "engine": "vllm",
                "architectures": ["blackwell"],
                "build": "b",
                "image": "img:1",
                "tensor_parallel_size": 1,
                "mem_fraction": 0.9,
                "command": [
                    "--model",
                    "{model_id}",
                    "--served-model-name",
                    "{served_model_name}",
                    "-tp",
                    "{tensor_parallel_size}",
                ],
            }
        ],
    }
    with pytest.raises(PlanError, match="speculative: true, but deployment d defines no speculative_args"):
        build_plan(gpus=samples.b200x8(), model="m", profiles={"m": profile}, speculative=True)
