"""The planner's choices beyond the seed: engine auto, H200, B300/GB200, overrides, hash, determinism."""

import copy
import hashlib
import json

import pytest
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.module_utils import _profiles
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import HASHED_KEYS, build_plan, plan_hash

PLAN_KEYS = [
    "profile",
    "deployment",
    "engine",
    "model_id",
    "weights",
    "weights_size_gb",
    "image",
    "min_driver",
    "served_model_name",
    "port",
    "publish_address",
    "tensor_parallel_size",
    "env",
    "command",
    "container",
    "docker_run",
    "secrets",
    "readiness",
    "stop_timeout_s",
    "hash",
    "reasons",
]
EAGLE = [
    "--speculative-algo",
    "EAGLE",
    "--speculative-num-steps",
    "3",
    "--speculative-eagle-topk",
    "1",
    "--speculative-num-draft-tokens",
    "4",
]


def flag_value(command, flag):
    return command[command.index(flag) + 1]


def test_plan_has_every_key_of_the_contract_in_order():
    plan = build_plan(gpus=samples.b200x8())
    assert list(plan) == PLAN_KEYS
    assert list(plan["container"]) == ["name", "gpus", "ipc", "shm_size", "ports", "volumes"]


# --- engine auto -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "gpus, engine, deployment, said",
    [
        (samples.b200x8, "vllm", "b200-vllm", "1,469 tok/s"),
        (samples.b300x8, "vllm", "b300-vllm", "1,469 tok/s"),
        (samples.gb200x4, "vllm", "gb200-vllm", "1,469 tok/s"),
        (samples.h100x8, "sglang", "h100-sglang", "SGLang-only"),
        (samples.h200x4, "sglang", "h200-sglang", "SGLang-only"),
    ],
)
def test_engine_auto_picks_vllm_on_blackwell_and_sglang_on_hopper(gpus, engine, deployment, said):
    plan = build_plan(gpus=gpus(), engine="auto")
    assert (plan["engine"], plan["deployment"]) == (engine, deployment)
    assert plan["reasons"][0].startswith("engine auto chose")
    assert said in plan["reasons"][0]


def test_engine_auto_falls_back_to_the_next_engine_the_profile_serves():
    # A user profile with only an SGLang deployment for Blackwell: auto prefers vLLM, finds none, takes SGLang.
    profile = copy.deepcopy(_profiles.PROFILES["deepseek-v4-flash"])
    profile["deployments"] = [d for d in profile["deployments"] if d["name"] == "b200-sglang"]
    plan = build_plan(gpus=samples.b200x8(), profiles={"sglang-only": profile}, model="sglang-only")
    assert plan["engine"] == "sglang"
    assert "first engine with a B200 deployment" in plan["reasons"][0]


# --- H200, B300, GB200 ---------------------------------------------------------------------------
@pytest.mark.parametrize("gpus", [samples.h200x4, samples.h200x8], ids=["4xH200", "8xH200"])
def test_h200_serves_the_fp8_build_at_tp4_with_sglang(gpus):
    plan = build_plan(gpus=gpus())
    assert plan["deployment"] == "h200-sglang"
    assert plan["reasons"][1] == (
        "H200 (hopper, compute capability 9.0) has no FP4 tensor cores: using the FP8 build "
        "sgl-project/DeepSeek-V4-Flash-FP8 (284 GB)."
    )
    assert plan["model_id"] == "sgl-project/DeepSeek-V4-Flash-FP8"
    assert plan["weights"] == "fp8"
    assert plan["image"] == "lmsysorg/sglang:deepseek-v4-hopper"
    assert plan["env"] == {"SGLANG_DSV4_FP4_EXPERTS": "0"}
    assert plan["tensor_parallel_size"] == 4
    assert flag_value(plan["command"], "--tp") == "4"
    assert flag_value(plan["command"], "--mem-fraction-static") == "0.85"
    assert "--moe-runner-backend" not in plan["command"]
    memory = [r for r in plan["reasons"] if r.startswith("Memory fits")]
    assert memory and "284 GB / tensor_parallel_size 4 = 71 GB per GPU" in memory[0]
    assert "0.85 x 150.8 GB (H200, 143771 MiB) = 128.1 GB" in memory[0]


def test_h200_plan_is_the_h100_seed_command_with_tp4():
    h100 = build_plan(gpus=samples.h100x8())
    h200 = build_plan(gpus=samples.h200x4())
    expected = list(h100["command"])
    expected[expected.index("--tp") + 1] = "4"
    assert h200["command"] == expected


@pytest.mark.parametrize(
    "gpus, image",
    [
        (samples.b300x8, "lmsysorg/sglang:deepseek-v4-b300"),
        (samples.gb200x4, "lmsysorg/sglang:deepseek-v4-grace-blackwell"),
        (lambda: samples.gpus("GB300", 4), "lmsysorg/sglang:deepseek-v4-grace-blackwell"),
    ],
)
def test_b300_and_grace_blackwell_get_their_own_sglang_images(gpus, image):
    plan = build_plan(gpus=gpus(), engine="sglang")
    b200 = build_plan(gpus=samples.b200x8(), engine="sglang")
    assert plan["image"] == image
    assert plan["model_id"] == "deepseek-ai/DeepSeek-V4-Flash"
    assert plan["command"] == b200["command"]


@pytest.mark.parametrize("gpus", [samples.b300x8, samples.gb200x4, lambda: samples.gpus("GB300", 4)])
def test_b300_and_grace_blackwell_vllm_use_the_seed_flags_and_cu130(gpus):
    plan = build_plan(gpus=gpus(), engine="vllm")
    b200 = build_plan(gpus=samples.b200x8(), engine="vllm")
    assert plan["image"] == "vllm/vllm-openai:deepseekv4-cu130"
    assert plan["min_driver"] == "580"
    assert plan["command"] == b200["command"]


def test_product_names_with_suffixes_match_their_deployment():
    for product in ("H100 80GB HBM3", "NVIDIA H100 80GB HBM3", "H100 NVL"):
        plan = build_plan(gpus=samples.h100x8(product=product))
        assert plan["deployment"] == "h100-sglang", product


# --- tensor parallelism --------------------------------------------------------------------------
def test_fewer_gpus_than_the_deployments_tp_takes_the_largest_common_divisor():
    plan = build_plan(gpus=samples.gpus("B200", 2))
    assert plan["tensor_parallel_size"] == 2
    assert flag_value(plan["command"], "--tensor-parallel-size") == "2"
    assert any("deployment b200-vllm uses 4" in r and "2 GPUs found" in r for r in plan["reasons"])


def test_user_tensor_parallel_size_reaches_the_command():
    plan = build_plan(gpus=samples.b200x8(), engine="sglang", tensor_parallel_size=8)
    assert plan["tensor_parallel_size"] == 8
    assert flag_value(plan["command"], "--tp") == "8"
    assert any(r.startswith("tensor_parallel_size 8: set by the user") for r in plan["reasons"])


# --- overrides -----------------------------------------------------------------------------------
def test_speculative_false_removes_exactly_the_eagle_flags():
    on = build_plan(gpus=samples.h100x8())
    off = build_plan(gpus=samples.h100x8(), speculative=False)
    start = on["command"].index("--speculative-algo")
    assert on["command"][start : start + len(EAGLE)] == EAGLE
    assert off["command"] == on["command"][:start] + on["command"][start + len(EAGLE) :]
    assert any(r.startswith("Speculative decoding off (set by the user)") for r in off["reasons"])


def test_speculative_true_on_vllm_adds_the_recipes_mtp_config():
    plan = build_plan(gpus=samples.b200x8(), engine="vllm", speculative=True)
    assert plan["command"][-2:] == ["--speculative_config", '{"method":"mtp","num_speculative_tokens":2}']


def test_extra_args_are_appended_after_the_profiles_args():
    base = build_plan(gpus=samples.b200x8(), engine="sglang")
    plan = build_plan(gpus=samples.b200x8(), engine="sglang", extra_args=["--swa-full-tokens-ratio", 0.1])
    assert plan["command"] == base["command"] + ["--swa-full-tokens-ratio", "0.1"]
    assert plan["docker_run"][-2:] == ["--swa-full-tokens-ratio", "0.1"]


def test_env_is_merged_over_the_profiles_and_stringified():
    plan = build_plan(gpus=samples.h100x8(), env={"SGLANG_DSV4_FP4_EXPERTS": "1", "NCCL_DEBUG": "WARN", "OMP": 4})
    assert plan["env"] == {"NCCL_DEBUG": "WARN", "OMP": "4", "SGLANG_DSV4_FP4_EXPERTS": "1"}
    run = plan["docker_run"]
    assert run[run.index("-p") + 2 : run.index("-v")] == [
        "-e",
        "NCCL_DEBUG=WARN",
        "-e",
        "OMP=4",
        "-e",
        "SGLANG_DSV4_FP4_EXPERTS=1",
    ]


def test_port_moves_host_and_container_port():
    sglang = build_plan(gpus=samples.h100x8(), port=9000)
    assert flag_value(sglang["command"], "--port") == "9000"
    assert sglang["container"]["ports"] == ["9000:9000"]
    # vLLM's seed command leaves the port at vLLM's default 8000: another port is added as a flag.
    vllm = build_plan(gpus=samples.b200x8(), port=9000)
    assert vllm["command"][-2:] == ["--port", "9000"]
    assert "-p" in vllm["docker_run"] and "9000:9000" in vllm["docker_run"]


def test_image_override_is_used_and_checked_by_its_tag():
    plan = build_plan(gpus=samples.b200x8(driver="575.51.03"), image="vllm/vllm-openai:deepseekv4-cu129")
    assert plan["image"] == "vllm/vllm-openai:deepseekv4-cu129"
    assert plan["min_driver"] == "575"
    assert plan["docker_run"][plan["docker_run"].index("-v") + 2] == "vllm/vllm-openai:deepseekv4-cu129"
    assert any("set by the user" in r and "deepseekv4-cu130" in r for r in plan["reasons"])


def test_served_model_name_hf_cache_and_container_name():
    plan = build_plan(gpus=samples.b200x8(), served_model_name="org/v4", hf_cache_dir="/srv/hf")
    assert flag_value(plan["command"], "--served-model-name") == "org/v4"
    assert plan["container"]["name"] == "llmfleet-org-v4"
    assert plan["container"]["volumes"] == ["/srv/hf:/root/.cache/huggingface"]
    named = build_plan(gpus=samples.b200x8(), container_name="dsv4")
    assert named["container"]["name"] == "dsv4"


def test_secrets_say_how_each_engine_takes_them():
    vllm = build_plan(gpus=samples.b200x8(), engine="vllm")
    sglang = build_plan(gpus=samples.b200x8(), engine="sglang")
    hf = {"via": "file", "env": "HF_TOKEN_PATH", "mount": "/run/secrets/hf_token"}
    assert vllm["secrets"] == {"api_key": {"via": "env", "name": "VLLM_API_KEY"}, "hf_token": hf}
    assert sglang["secrets"] == {"api_key": {"via": "arg", "name": "--api-key"}, "hf_token": hf}
    for plan in (vllm, sglang):
        assert "--api-key" not in plan["command"]
        assert not any(t.startswith(("HF_TOKEN=", "VLLM_API_KEY=")) for t in plan["docker_run"])


def test_readiness_waits_up_to_an_hour():
    plan = build_plan(gpus=samples.h100x8())
    assert plan["readiness"] == {"health_path": "/health", "models_path": "/v1/models", "timeout_s": 3600}


# --- determinism and hash ------------------------------------------------------------------------
def test_same_inputs_same_plan_byte_for_byte_and_inputs_untouched():
    gpus = samples.h100x8()
    env = {"B": "2", "A": "1"}
    frozen = (copy.deepcopy(gpus), dict(env), copy.deepcopy(_profiles.PROFILES))
    first = json.dumps(build_plan(gpus=gpus, env=env, extra_args=["--enable-metrics"]))
    second = json.dumps(build_plan(gpus=gpus, env=dict(reversed(list(env.items()))), extra_args=["--enable-metrics"]))
    assert first == second
    assert (gpus, env, _profiles.PROFILES) == frozen


def test_hash_is_sha256_of_canonical_json_of_the_running_server():
    plan = build_plan(gpus=samples.b200x8())
    canonical = json.dumps({k: plan[k] for k in HASHED_KEYS}, sort_keys=True, separators=(",", ":"))
    assert plan["hash"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_hash_of_the_seed_b200_vllm_plan_is_pinned():
    # A change here restarts every deployed B200 vLLM server on upgrade: change it only on purpose.
    assert build_plan(gpus=samples.b200x8())["hash"] == PINNED_B200_VLLM_HASH


PINNED_B200_VLLM_HASH = "57c2d61c2ebfdb31d9adf7667d15e1fb91a9e737d776336e444d9584f36beb3a"


@pytest.mark.parametrize(
    "change",
    [
        {"extra_args": ["--enable-prefix-caching"]},
        {"env": {"NCCL_DEBUG": "WARN"}},
        {"image": "vllm/vllm-openai:deepseekv4-cu130-v2"},
        {"port": 8001},
        {"tensor_parallel_size": 8},
        {"served_model_name": "dsv4"},
        {"speculative": True},
        {"container_name": "other"},
        {"hf_cache_dir": "/srv/hf"},
        {"engine": "sglang"},
    ],
)
def test_hash_changes_when_the_server_changes(change):
    assert build_plan(gpus=samples.b200x8(), **change)["hash"] != build_plan(gpus=samples.b200x8())["hash"]


def test_hash_ignores_reasons_and_facts_that_do_not_change_the_server():
    base = build_plan(gpus=samples.b200x8())
    other_driver = build_plan(gpus=samples.b200x8(driver="590.10.01"))
    assert other_driver["reasons"] != base["reasons"]
    assert other_driver["hash"] == base["hash"]
    edited = dict(base, reasons=["something else"])
    assert plan_hash(edited) == base["hash"]
