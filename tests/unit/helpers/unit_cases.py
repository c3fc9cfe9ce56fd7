"""The render cases of the unit tests: today's normal values (the seed plans) and hostile values.

Plans come from _plan.build_plan, as the serving_plan module makes them for the role.
"""

from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan
from helpers import gpu_fact_samples as samples
from helpers.profiles import tiny_profile

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
                "serve_runtime": runtime,
                "llmfleet_plan": plan,
                "serve_api_key": API_KEY,
                "serve_hf_token": HF_TOKEN,
            }
    for runtime in ("docker", "podman"):
        for prefix, gpus, engine, extra in (
            ("custom-vllm", samples.b200x8, "vllm", ["--chat-template", "/templates/chat template.jinja"]),
            ("custom-sglang", samples.h100x8, "sglang", ["--chat-template", "/templates/chat template.jinja"]),
        ):
            plan = build_plan(
                gpus=gpus(),
                engine=engine,
                port=8123,
                served_model_name="ds-v4",
                hf_cache_dir="/srv/hf cache",
                extra_args=extra,
                env={"NCCL_DEBUG": "INFO extra"},
                container_name="llmfleet-custom",
                image="registry.local:5000/engine:v1",
            )
            cases["%s-%s-secrets" % (prefix, runtime)] = {
                "serve_runtime": runtime,
                "llmfleet_plan": plan,
                "serve_api_key": 'k"e$y`\\x',
                "serve_hf_token": HF_TOKEN,
                "serve_secrets_dir": "/etc/llmfleet",
            }
    return cases


# --- Hostile values -------------------------------------------------------------------------------
# Everything that breaks a unit file when written as it is: a line break followed by a section header
# and a command, a lone ';' (a second command on old systemd), specifiers (%n), variables ($HOME,
# ${HOME}), both quotes, backslashes, a tab. In a command-line argument all of it must arrive byte for
# byte; in a plain setting or a comment, control characters are refused and the rest is kept.
INJECTED = "/tmp/llmfleet-injected"
HOSTILE = (
    'x y\n[Service]\nExecStartPre=/bin/touch %s\n ; /bin/touch %s ; %%n %%%% $HOME ${HOME} "dq" \'sq\' '
    'back\\slash \\ tab\t;' % (INJECTED, INJECTED)
)
# The same without control characters (what a one-line setting can hold).
HOSTILE_LINE = (
    'x [Service] ExecStartPre=/bin/touch %s ; /bin/touch %s ; %%n %%%% $HOME ${HOME} "dq" \'sq\' '
    'back\\slash ;x' % (INJECTED, INJECTED)
)
# A secret cannot hold a line break (the role refuses it before writing); everything else is allowed.
HOSTILE_KEY = 'k e"y\'$HOME${HOME}`\\;%n[Service]ExecStartPre=/bin/touch ' + INJECTED
HOSTILE_TOKEN = 'hf_"$x`\\;%n ' + INJECTED
# A directory name the planner does not check today (serve_secrets_dir); systemd reads the
# EnvironmentFile= path as a glob, so [ ] * ? { } \\ are refused there (refused_cases).
HOSTILE_DIR = "/etc/llm fleet %n $HOME \"dq\" 'sq' ;x"


def _plan_with(gpus, engine, served_model_name, hf_cache_dir, image, env, extra_args, container_name):
    """A plan made by the planner with each hostile value it accepts; a value it refuses (it may
    check more than today) is put into the plan afterwards instead, as the unit must hold any plan."""
    from ansible_collections.llmfleet.serving.plugins.module_utils._plan import PlanError

    wanted = {
        "served_model_name": served_model_name,
        "hf_cache_dir": hf_cache_dir,
        "image": image,
        "env": env,
        "extra_args": extra_args,
    }
    accepted = {}
    for name, value in wanted.items():
        try:
            build_plan(gpus=gpus(), engine=engine, container_name=container_name, **{name: value})
            accepted[name] = value
        except PlanError:
            pass
    plan = build_plan(gpus=gpus(), engine=engine, container_name=container_name, **accepted)
    if "served_model_name" not in accepted:
        plan["served_model_name"] = served_model_name
        i = plan["command"].index("--served-model-name")
        plan["command"][i + 1] = served_model_name
    if "hf_cache_dir" not in accepted:
        plan["container"]["volumes"] = [hf_cache_dir + ":" + v.split(":", 1)[1] for v in plan["container"]["volumes"]]
    if "image" not in accepted:
        plan["image"] = image
    if "env" not in accepted:
        plan["env"] = dict(plan["env"], **env)
    if "extra_args" not in accepted:
        plan["command"] = plan["command"] + extra_args
    return plan, sorted(accepted)


def hostile_cases():
    """{case: (vars, planner-accepted fields)}: hostile values in every field that reaches a unit,
    for both engines' key paths (vLLM: --env-file; SGLang: EnvironmentFile= + ${LLMFLEET_API_KEY})."""
    cases = {}
    for engine, gpus in (("vllm", samples.b200x8), ("sglang", samples.h100x8)):
        for runtime in ("docker", "podman"):
            # Quadlet Image= and the Description/comments take one line: no control characters there.
            plan, accepted = _plan_with(
                gpus,
                engine,
                served_model_name="m" + HOSTILE_LINE.replace(" ", "_"),
                # Quadlet Volume= is one line (podman gets it unsplit): no control characters there.
                hf_cache_dir="/srv/hf" + (HOSTILE if runtime == "docker" else HOSTILE_LINE.replace(":", "_")),
                image=("registry.local/engine:" + HOSTILE)
                if runtime == "docker"
                else ("registry.local/e:" + HOSTILE_LINE),
                env={"LLMFLEET_HOSTILE": HOSTILE},
                extra_args=["--chat-template", HOSTILE],
                container_name="llmfleet-hostile-%s" % engine,
            )
            plan["model_id"] = "org/model" + HOSTILE_LINE
            plan["weights"] = HOSTILE_LINE
            plan["deployment"] = HOSTILE_LINE
            cases["hostile-%s-%s" % (engine, runtime)] = (
                {
                    "serve_runtime": runtime,
                    "llmfleet_plan": plan,
                    "serve_api_key": HOSTILE_KEY,
                    "serve_hf_token": HOSTILE_TOKEN,
                    "serve_secrets_dir": HOSTILE_DIR,
                },
                accepted,
            )
    return cases


def refused_cases():
    """{case: (vars, the field the refusal must name)}: a line break where a one-line value goes."""
    base = build_plan(gpus=samples.h100x8(), engine="sglang")
    cases = {}
    for field, key, named in (
        ("model_id", "model_id", "plan model_id"),
        ("weights", "weights", "plan weights"),
        ("deployment", "deployment", "plan deployment"),
        ("served_model_name", "served_model_name", "serve_served_model_name"),
    ):
        for runtime in ("docker", "podman"):
            plan = dict(base, **{key: "x\n[Service]\nExecStartPre=/bin/touch " + INJECTED})
            cases["refused-%s-%s" % (field.replace("_", "-"), runtime)] = (
                {"serve_runtime": runtime, "llmfleet_plan": plan},
                named,
            )
    plan = dict(base, container=dict(base["container"], volumes=["/srv/x\n[Service]:/root/.cache/huggingface"]))
    cases["refused-hf-cache-dir-podman"] = (
        {"serve_runtime": "podman", "llmfleet_plan": plan},
        "plan container.volumes (serve_hf_cache_dir)",
    )
    plan = dict(base, image="registry.local/e:x\n[Service]")
    cases["refused-image-podman"] = ({"serve_runtime": "podman", "llmfleet_plan": plan}, "serve_image")
    # SGLang reads the key file through EnvironmentFile=, a one-line setting.
    cases["refused-secrets-dir-docker"] = (
        {
            "serve_runtime": "docker",
            "llmfleet_plan": base,
            "serve_api_key": "k",
            "serve_secrets_dir": "/etc/x\n[Service]",
        },
        "serve_secrets_dir",
    )
    cases["refused-secrets-dir-glob-docker"] = (
        {"serve_runtime": "docker", "llmfleet_plan": base, "serve_api_key": "k", "serve_secrets_dir": "/etc/[Service]"},
        "serve_secrets_dir",
    )
    for runtime, engine, gpus in (("docker", "vllm", samples.b200x8), ("docker", "sglang", samples.h100x8)):
        cases["refused-api-key-%s" % engine] = (
            {
                "serve_runtime": runtime,
                "serve_api_key": "line1\n[Service]",
                "llmfleet_plan": build_plan(gpus=gpus(), engine=engine),
            },
            "serve_api_key",
        )
    return cases


# --- The plan matrix of the container options (tests/unit/roles/test_container_options.py) --------------------
def plan_matrix():
    """{name: plan} as serving_plan and fleet_plan make them: single-host plans (the seed's, one with every
    optional value, one with --shm-size), packed replicas with their GPU sets (vLLM on 8 x B200, SGLang on
    8 x H200), and cell heads and workers (SGLang TP 8 over two 4 x H100 hosts with a fabric interface, vLLM
    data parallel over two 8 x B200 hosts)."""
    from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet

    plans = {
        "single-vllm-b200": build_plan(gpus=samples.b200x8(), engine="vllm"),
        "single-sglang-b200": build_plan(gpus=samples.b200x8(), engine="sglang"),
        "single-sglang-h100": build_plan(gpus=samples.h100x8(), engine="sglang"),
        "single-custom-vllm": build_plan(
            gpus=samples.b200x8(),
            engine="vllm",
            port=9000,
            publish_address="127.0.0.1",
            served_model_name="ds-v4",
            hf_cache_dir="/srv/hf cache",
            extra_args=["--chat-template", "/templates/chat template.jinja"],
            env={"NCCL_DEBUG": "INFO extra"},
            container_name="llmfleet-custom",
            image="registry.local:5000/engine:v1",
        ),
        # A user profile whose deployment asks for a shared-memory size (no built-in one does), for --shm-size.
        "single-shm-vllm": build_plan(
            gpus=samples.h100x8(), model="tiny", engine="vllm", profiles={"tiny": tiny_profile(shm_size="32g")}
        ),
    }

    def host(gpus, address, **kw):
        return dict({"gpus": gpus, "address": address}, **kw)

    packed = plan_fleet(
        {
            "b200": host(samples.b200x8(), "10.0.0.1", choices={"engine": "vllm"}),
            "h200": host(samples.h200x8(), "10.0.0.2", choices={"engine": "sglang"}),
        },
        ["b200", "h200"],
    )
    for name, engine in (("b200", "vllm"), ("h200", "sglang")):
        for inst in packed["hosts"][name]["instances"]:
            plans["packed-%s-%s-%d" % (engine, name, inst["index"])] = inst
    cells = plan_fleet(
        {
            "h100-a": host(samples.gpus("H100", 4), "10.0.1.1", cell="pair", fabric_interface="ens1f0"),
            "h100-b": host(samples.gpus("H100", 4), "10.0.1.2", cell="pair", fabric_interface="ens1f0"),
            "b200-a": host(samples.b200x8(), "10.0.2.1", cell="dp", choices={"engine": "vllm"}),
            "b200-b": host(samples.b200x8(), "10.0.2.2", cell="dp", choices={"engine": "vllm"}),
        },
        ["h100-a", "h100-b", "b200-a", "b200-b"],
    )
    for host_name, label in (
        ("h100-a", "cell-sglang-head"),
        ("h100-b", "cell-sglang-worker"),
        ("b200-a", "cell-vllm-head"),
        ("b200-b", "cell-vllm-worker"),
    ):
        (plans[label],) = cells["hosts"][host_name]["instances"]
    return plans


def matrix_cases(plans=None):
    """Each plan of plan_matrix() x docker/podman x without/with secrets, as render cases."""
    cases = {}
    for name, plan in (plans or plan_matrix()).items():
        for runtime in ("docker", "podman"):
            cases["%s-%s" % (name, runtime)] = {"serve_runtime": runtime, "llmfleet_plan": plan}
            cases["%s-%s-secrets" % (name, runtime)] = {
                "serve_runtime": runtime,
                "llmfleet_plan": plan,
                "serve_api_key": API_KEY,
                "serve_hf_token": HF_TOKEN,
            }
    return cases
