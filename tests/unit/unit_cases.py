"""The render cases of the unit tests: today's normal values (the seed plans) and hostile values.

Plans come from _plan.build_plan, as the serving_plan module makes them for the role.
"""
import gpu_fact_samples as samples
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan

# Secrets of the normal cases (test values; never a real key).
API_KEY = "sk-test-0123456789abcdef"
HF_TOKEN = "hf_testTOKEN0123456789"

# (case prefix, GPUs, engine): the seed guide's three commands.
SEED_PLANS = [
    ("b200-sglang", samples.b200x8, "sglang"),
    ("h100-sglang", samples.h100x8, "sglang"),
    ("b200-vllm", samples.b200x8, "vllm"),
]


def seed_cases():
    """Each seed plan x docker/podman x without/with secrets, plus one case with the optional values
    set (env and extra args with spaces, another port, name, cache directory and image)."""
    cases = {}
    for prefix, gpus, engine in SEED_PLANS:
        plan = build_plan(gpus=gpus(), engine=engine)
        for runtime in ("docker", "podman"):
            cases["%s-%s" % (prefix, runtime)] = {"serve_runtime": runtime, "llmfleet_plan": plan}
            cases["%s-%s-secrets" % (prefix, runtime)] = {
                "serve_runtime": runtime, "llmfleet_plan": plan, "serve_api_key": API_KEY, "serve_hf_token": HF_TOKEN}
    for runtime in ("docker", "podman"):
        for prefix, gpus, engine, extra in (
                ("custom-vllm", samples.b200x8, "vllm", ["--chat-template", "/templates/chat template.jinja"]),
                ("custom-sglang", samples.h100x8, "sglang", ["--chat-template", "/templates/chat template.jinja"])):
            plan = build_plan(gpus=gpus(), engine=engine, port=8123, served_model_name="ds-v4",
                              hf_cache_dir="/srv/hf cache", extra_args=extra, env={"NCCL_DEBUG": "INFO extra"},
                              container_name="llmfleet-custom", image="registry.local:5000/engine:v1")
            cases["%s-%s-secrets" % (prefix, runtime)] = {
                "serve_runtime": runtime, "llmfleet_plan": plan, "serve_api_key": 'k"e$y`\\x',
                "serve_hf_token": HF_TOKEN, "serve_secrets_dir": "/etc/llmfleet"}
    return cases
