"""Issue 9, planner side: no option or profile string reaches a path, unit, container name or command line
unchecked. Each refusal names the option, shows the value and says what would work; each acceptance is pinned
so the rule is not tighter than it says."""

import copy

import pytest
from ansible.errors import AnsibleFilterError
from helpers import gpu_fact_samples as samples
from helpers.module_runner import run_module

from ansible_collections.llmfleet.serving.plugins.filter.names import FilterModule, instance_name
from ansible_collections.llmfleet.serving.plugins.module_utils import _engine_flags, _profiles
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import validate_instance_name
from ansible_collections.llmfleet.serving.plugins.module_utils._plan import build_plan
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_command import _catalog, _unknown_flag
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_profile import validate_profile
from ansible_collections.llmfleet.serving.plugins.module_utils._references import image_problem
from ansible_collections.llmfleet.serving.plugins.modules import serving_plan

DIGEST = "sha256:" + "0123456789abcdef" * 4


def refused(**kwargs):
    kwargs.setdefault("gpus", samples.b200x8())
    with pytest.raises(PlanError) as caught:
        build_plan(**kwargs)
    return caught.value


# --- one name rule: planner and teardown filter -------------------------------------------------------
BAD_NAMES = [
    "../../tmp/victim",
    "a/b",
    "bad name",
    "a\nb",
    "50%",
    "$HOME",
    ".hidden",
    "-rf",
    "",
    "x" * 129,
    "name;rm",
    "a\\b",
    "ünïcode",
]
GOOD_NAMES = ["llmfleet-deepseek", "a", "dsv4.b_2-x", "0start", "x" * 128]


@pytest.mark.parametrize("name", [n for n in BAD_NAMES if n != "a\nb"])  # a\nb: see the control-character tests
def test_container_name_refused_naming_option_value_and_rule(name):
    exc = refused(container_name=name)
    assert exc.details["option"] == "container_name"
    assert str(exc).startswith("container_name str ")
    assert "is not a valid container name" in str(exc)
    assert "letters, digits, '_', '.' and '-', starting with a letter or digit" in str(exc)
    assert "llmfleet-deepseek" in str(exc)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_container_name_accepted(name):
    assert build_plan(gpus=samples.b200x8(), container_name=name)["container"]["name"] == name


@pytest.mark.parametrize("name", BAD_NAMES + [None, 5])
def test_instance_name_filter_refuses_what_the_planner_refuses(name):
    with pytest.raises(AnsibleFilterError) as caught:
        instance_name(name, "serve_container_name")
    assert str(caught.value).startswith("serve_container_name: ")
    assert "letters, digits" in str(caught.value) or "must be a string" in str(caught.value)
    with pytest.raises(ValueError):
        validate_instance_name(name, "serve_container_name")


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_instance_name_filter_returns_the_name_unchanged(name):
    assert FilterModule().filters()["instance_name"](name, "serve_container_name") == name
    assert validate_instance_name(name, "x") == name


def test_instance_name_filter_shows_the_value_with_escapes_visible():
    with pytest.raises(AnsibleFilterError, match=r"'\.\./\.\./tmp/victim' is not a valid name"):
        instance_name("../../tmp/victim", "serve_container_name")
    with pytest.raises(AnsibleFilterError, match=r"'a\\nb'"):
        instance_name("a\nb")


def test_default_name_from_served_model_name_is_checked_too():
    assert (
        build_plan(gpus=samples.b200x8(), served_model_name="deepseek-ai/DeepSeek-V4-Flash")["container"]["name"]
        == "llmfleet-deepseek-ai-DeepSeek-V4-Flash"
    )
    exc = refused(served_model_name="m" * 128)
    assert exc.details["option"] == "container_name"
    assert "gives the container name" in str(exc) and "set container_name" in str(exc)


# --- control characters ---------------------------------------------------------------------------------
def evil_profile():
    profile = copy.deepcopy(_profiles.PROFILES["deepseek-v4-flash"])
    return profile


@pytest.mark.parametrize(
    "edit, path, what",
    [
        (
            lambda p: p["builds"]["native"].update(model_id="org/m\n[Service]\nExecStartPre=/bin/touch /tmp/x"),
            "builds.native.model_id",
            "line feed (U+000A)",
        ),
        (
            lambda p: p["deployments"][0]["command"].__setitem__(5, "x\ry"),
            "deployments[0].command[5]",
            "carriage return (U+000D)",
        ),
        (lambda p: p["deployments"][0]["env"].update(A="1\t2"), "deployments[0].env.A", "tab (U+0009)"),
        (lambda p: p.update(description="nul\x00"), "description", "NUL (U+0000)"),
        (lambda p: p["deployments"][0].update(image="img:1\x7f"), "deployments[0].image", "delete (U+007F)"),
        (
            lambda p: p["deployments"][1]["speculative_args"].append("\x1b[31m"),
            "deployments[1].speculative_args[8]",
            "escape (U+001B)",
        ),
    ],
)
def test_profile_control_characters_refused_with_the_path(edit, path, what):
    profile = evil_profile()
    edit(profile)
    with pytest.raises(PlanError) as caught:
        build_plan(gpus=samples.b200x8(), model="evil", profiles={"evil": profile})
    message = str(caught.value)
    assert message.startswith("profiles.evil: key '%s' holds a control character (%s)" % (path, what))
    assert "remove it" in message
    assert caught.value.details["option"] == "profiles"


def test_profile_control_character_in_a_key_is_refused():
    profile = evil_profile()
    profile["deployments"][0]["env"] = {"A\nB": "1"}
    with pytest.raises(
        PlanError,
        match=r"profiles.evil: key 'A\\nB' under 'deployments\[0\].env' holds a control "
        r"character \(line feed",
    ):
        validate_profile("evil", profile)


def test_profile_image_must_be_a_reference():
    profile = evil_profile()
    profile["deployments"][0]["image"] = "--privileged"
    with pytest.raises(
        PlanError,
        match=r"profiles.evil: key 'deployments\[0\].image' '--privileged' has "
        r"repository path '--privileged', which is not valid \(it starts with '-'",
    ):
        validate_profile("evil", profile)


@pytest.mark.parametrize(
    "model_id",
    [
        "deepseek [Service] ExecStartPre=/bin/touch /tmp/x",
        "no-org",
        "org/",
        "../../etc/passwd",
        "org/../x",
        "-org/name",
        "org/na me",
        "org/näme",
    ],
)
def test_profile_model_id_must_be_a_hub_repository_id(model_id):
    profile = evil_profile()
    profile["builds"]["native"]["model_id"] = model_id
    with pytest.raises(
        PlanError,
        match=r"profiles.evil: key 'builds.native.model_id' .* is not a Hugging Face "
        r"repository id; it must be ORG/NAME",
    ) as caught:
        validate_profile("evil", profile)
    assert caught.value.details["option"] == "profiles"


def test_profile_model_ids_of_the_builtin_builds_pass():
    validate_profile("copy", evil_profile())  # deepseek-ai/DeepSeek-V4-Flash, sgl-project/DeepSeek-V4-Flash-FP8


@pytest.mark.parametrize(
    "kwargs, option",
    [
        (dict(served_model_name="deep\nseek"), "served_model_name"),
        (dict(image="vllm/vllm-openai:x\n"), "image"),
        (dict(extra_args=["--enable-prefix-caching", "a\nb"]), "extra_args"),
        (dict(env={"NCCL_DEBUG": "WARN\nExecStartPre=/bin/sh"}), "env"),
        (dict(env={"A\nB": "1"}), "env"),
        (dict(hf_cache_dir="/srv/hf\n"), "hf_cache_dir"),
        (dict(container_name="x\ty"), "container_name"),
        (dict(model="deepseek-v4-flash\n"), "model"),
        (dict(publish_address="127.0.0.1\n"), "publish_address"),
    ],
)
def test_option_control_characters_refused_naming_the_option(kwargs, option):
    exc = refused(**kwargs)
    assert exc.details["option"] == option
    assert str(exc).startswith(option)
    assert "\n" not in str(exc) and "\t" not in str(exc)  # shown escaped, never raw


def test_control_character_message_names_the_character():
    exc = refused(extra_args=["--enable-prefix-caching", "a\nb"])
    assert str(exc) == (
        "extra_args[1]: str \"a\\nb\" holds a control character (line feed (U+000A)); the value "
        "reaches a command line and a unit file, where a line break or tab starts something new: "
        "remove it"
    )


# --- image references ----------------------------------------------------------------------------------
BAD_IMAGES = {
    "foo:": "ends its name with ':' but has no tag",
    "--privileged": "starts with '-'",
    "a b": "repository path 'a b'",
    "UPPER/x": "repository names are lowercase",
    "": "must be a non-empty string",
    "img:-tag": "has tag '-tag'",
    "img@sha256:abc": "has digest 'sha256:abc'",
    "registry.local:port/x": "has registry 'registry.local:port'",
    "a//b": "repository path 'a//b'",
    "x:" + "t" * 129: "has tag",
}
GOOD_IMAGES = [
    "vllm/vllm-openai:deepseekv4-cu130",
    "registry.local:5000/team/img@" + DIGEST,
    "localhost/x:1",
    "lmsysorg/sglang:deepseek-v4-blackwell",
    "ubuntu",
    "a__b/c-d.e:T_1.0",
    "img:1@" + DIGEST,
    "[::1]:5000/x:1",
    "x:" + "t" * 128,
]


@pytest.mark.parametrize("image, why", list(BAD_IMAGES.items()), ids=list(range(len(BAD_IMAGES))))
def test_invalid_image_refused_with_the_grammar(image, why):
    exc = refused(image=image)
    assert exc.details["option"] == "image"
    assert str(exc).startswith("image str ")
    assert why in str(exc)
    assert "[REGISTRY[:PORT]/]PATH[:TAG][@sha256:DIGEST]" in str(exc)
    assert "vllm/vllm-openai:deepseekv4-cu130" in str(exc)


@pytest.mark.parametrize("image", GOOD_IMAGES)
def test_valid_image_references_accepted(image):
    assert image_problem(image) is None
    assert build_plan(gpus=samples.b200x8(), image=image)["image"] == image


# --- shapes: lists and mappings are not split from strings ---------------------------------------------
def test_extra_args_string_refused_with_the_list_it_meant():
    exc = refused(extra_args="--a --b")
    assert exc.details["option"] == "extra_args"
    assert str(exc).startswith(
        "extra_args must be a list of strings, found str \"--a --b\": write it as a YAML list, e.g. ['--a', '--b']"
    )


def test_env_string_refused():
    exc = refused(env="A=1,B=2")
    assert exc.details["option"] == "env"
    assert "env must be a mapping of variable name to value, found str \"A=1,B=2\"" in str(exc)
    assert "{NCCL_DEBUG: WARN}" in str(exc)


def test_module_does_not_split_extra_args_or_env_strings():
    result = run_module(serving_plan, {"gpus": samples.b200x8(), "extra_args": "--a,--b"}, expect_failure=True)
    assert result["option"] == "extra_args"
    assert "found str \"--a,--b\": write it as a YAML list, e.g. ['--a,--b']" in result["msg"]
    result = run_module(serving_plan, {"gpus": samples.b200x8(), "env": "A=1"}, expect_failure=True)
    assert result["option"] == "env"
    assert "env must be a mapping" in result["msg"]


def test_module_still_takes_lists_and_mappings():
    plan = run_module(
        serving_plan,
        {
            "gpus": samples.b200x8(),
            "engine": "sglang",
            "extra_args": ["--swa-full-tokens-ratio", 0.1],
            "env": {"OMP": 4},
        },
    )["plan"]
    assert plan["command"][-2:] == ["--swa-full-tokens-ratio", "0.1"]
    assert plan["env"] == {"OMP": "4"}


# --- bounds --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [65, 1000, True, "4", 2.0])
def test_tensor_parallel_size_bounds(value):
    exc = refused(tensor_parallel_size=value)
    assert exc.details["option"] == "tensor_parallel_size"
    assert "tensor_parallel_size must be a whole number from 1 to 64" in str(exc)


@pytest.mark.parametrize(
    "value, detail",
    [
        (-4, "whole number >= 1, found int -4"),
        (0, "found int 0"),
        (64, "tensor_parallel_size 64 exceeds the 8 GPUs found"),
    ],
)
def test_tensor_parallel_size_below_one_or_above_the_gpus(value, detail):
    exc = refused(tensor_parallel_size=value)
    assert detail in str(exc) and exc.details["option"] == "tensor_parallel_size"


@pytest.mark.parametrize("name", ["a b", 'dee"pseek', "it's", "$x", "50%", "", "-x", "/abs", "m" * 129, "a\\b", "a;b"])
def test_served_model_name_refused(name):
    exc = refused(served_model_name=name)
    assert exc.details["option"] == "served_model_name"
    assert str(exc).startswith("served_model_name str ")
    assert "must be a non-empty string without spaces" in str(exc) and "'deepseek'" in str(exc)


@pytest.mark.parametrize(
    "name", ["deepseek", "deepseek-ai/DeepSeek-V4-Flash", "org/v4", "model:v1.5", "a@b+c", "m" * 110]
)
def test_served_model_name_accepted(name):
    plan = build_plan(gpus=samples.b200x8(), served_model_name=name)
    assert plan["served_model_name"] == name


BAD_DIRS = {
    "/": "system directory",
    "/etc": "system directory",
    "/usr": "system directory",
    "/bin": "system directory",
    "/sbin": "system directory",
    "/lib": "system directory",
    "/lib64": "system directory",
    "/boot": "system directory",
    "/dev": "system directory",
    "/proc": "system directory",
    "/sys": "system directory",
    "/run": "system directory",
    "/var": "system directory",
    "/root": "system directory",
    "/home": "system directory",
    "/tmp": "system directory",
    "/etc/hf": "is under /etc",
    "/usr/local/hf": "is under /usr",
    "/proc/1/root": "is under /proc",
    "/sys/x": "is under /sys",
    "/dev/shm/hf": "is under /dev",
    "/boot/efi": "is under /boot",
    "/srv/../etc": "write it as /etc",
    "/srv//hf": "write it as /srv/hf",
    "/srv/hf/": "write it as /srv/hf",
    "//srv/hf": "write it as /srv/hf",
    "/srv/./hf": "write it as /srv/hf",
    "/srv/a:b": "holds ':'",
    "/srv/a,b": "holds ','",
    "srv/hf": "is not an absolute path",
    "~/.cache/huggingface": "is not an absolute path",
    "": "must be a non-empty absolute path",
}


@pytest.mark.parametrize("path, why", list(BAD_DIRS.items()), ids=list(BAD_DIRS))
def test_hf_cache_dir_refused(path, why):
    exc = refused(hf_cache_dir=path)
    assert exc.details["option"] == "hf_cache_dir"
    assert str(exc).startswith("hf_cache_dir str ")
    assert why in str(exc)
    assert "/root/.cache/huggingface" in str(exc) or "write it as" in str(exc) or "without ':' and ','" in str(exc)


@pytest.mark.parametrize(
    "path",
    ["/root/.cache/huggingface", "/srv/hf", "/home/ops/hf", "/var/lib/hf", "/tmp/hf", "/data/models cache", "/run/hf"],
)
def test_hf_cache_dir_accepted(path):
    plan = build_plan(gpus=samples.b200x8(), hf_cache_dir=path)
    assert plan["container"]["volumes"] == ["%s:/root/.cache/huggingface" % path]


# --- flag catalog ----------------------------------------------------------------------------------------
def test_every_builtin_deployment_flag_is_in_its_engines_catalog():
    checked = 0
    for profile in _profiles.PROFILES.values():
        for dep in profile["deployments"]:
            if "refuse" in dep:
                continue
            version, flags, options = _catalog(dep["engine"], dep)
            assert flags, "no catalog for %s %s" % (dep["engine"], version)
            command = dep["command"]
            # SGLang's commands start with the launcher (python3 -m sglang.launch_server): not server flags.
            first = next(i for i, t in enumerate(command) if t.startswith("--"))
            tokens = [t for t in command[first:] + dep.get("speculative_args", []) if t.startswith("-")]
            for token in tokens:
                assert _unknown_flag(token, flags, options) is None, (dep["name"], token)
                checked += 1
    assert checked > 50


def test_catalog_names_its_versions_and_generator():
    text = open(_engine_flags.__file__).read()
    assert "GENERATED by extensions/engine-flags/generate.py" in text
    for engine, data in _profiles.ENGINES.items():
        assert data["catalog_version"] in _engine_flags.ENGINE_FLAGS[engine]
        assert data["catalog_version"] in text


def test_unknown_flag_refused_with_the_closest_and_the_way_out():
    exc = refused(extra_args=["--max-num-seqz", "8"])
    assert exc.details["option"] == "extra_args"
    assert str(exc).startswith("extra_args: '--max-num-seqz' is not a flag of vLLM 0.33.0")
    assert "closest known flags: --max-num-seqs" in str(exc)
    assert "allow_unknown_args: true" in str(exc)


def test_unknown_flag_with_nothing_close():
    exc = refused(extra_args=["--zzzzzzzz"])
    assert "no known flag is close to it" in str(exc)


def test_allow_unknown_args_passes_the_flag_and_says_so():
    plan = build_plan(gpus=samples.b200x8(), extra_args=["--no-such-flag"], allow_unknown_args=True)
    assert plan["command"][-1] == "--no-such-flag"
    assert "extra_args not checked against the flag catalog (allow_unknown_args: true)." in plan["reasons"]


def test_allow_unknown_args_does_not_let_secrets_or_duplicates_through():
    assert "would put a secret" in str(refused(extra_args=["--api-key", "x"], allow_unknown_args=True))
    assert "duplicates" in str(refused(extra_args=["--block-size", "16"], allow_unknown_args=True))


@pytest.mark.parametrize(
    "engine, args",
    [
        ("vllm", ["--max-num-seqs=8"]),
        ("vllm", ["--max_num_seqs", "8"]),
        ("vllm", ["--no-enable-prefix-caching"]),
        ("vllm", ["--attention_config.use_fp4_indexer_cache=True"]),
        ("vllm", ["--moe-backend", "deep_gemm_mega_moe"]),
        ("vllm", ["--max-num-seq", "8"]),  # vLLM's parser allows abbreviations too (allow_abbrev in the catalog)
        ("sglang", ["--swa-full-tokens-ratio", "0.1"]),
        ("sglang", ["--swa-full=0.1"]),  # argparse: a unique prefix is the option
        ("sglang", ["--enable-metrics"]),  # exact, though also a prefix of --enable-metrics-for-all-schedulers
    ],
)
def test_flags_are_read_as_the_engine_reads_them(engine, args):
    plan = build_plan(gpus=samples.b200x8(), engine=engine, extra_args=args)
    assert plan["command"][-len(args) :] == args
    assert any(r.startswith("extra_args checked against the flag catalog of") for r in plan["reasons"])


def test_sglang_does_not_read_underscores_as_dashes_and_refuses_ambiguous_prefixes():
    exc = refused(engine="sglang", extra_args=["--swa_full_tokens_ratio", "0.1"])
    assert "is not a flag of SGLang 0.5.23" in str(exc) and "--swa-full-tokens-ratio" in str(exc)
    exc = refused(engine="sglang", extra_args=["--swa", "0.1"])
    assert "closest known flags: --swa-full-tokens-ratio, --swa-prefix-tails" in str(exc)


def test_deployment_engine_version_without_a_catalog():
    profile = copy.deepcopy(_profiles.PROFILES["deepseek-v4-flash"])
    profile["deployments"][0]["engine_version"] = "0.20.0"
    exc = refused(model="m", profiles={"m": profile}, extra_args=["--enable-prefix-caching"])
    assert "no flag catalog for vLLM 0.20.0 (deployment b200-vllm); catalogs: 0.33.0" in str(exc)
    assert exc.details["option"] == "extra_args"
    plan = build_plan(
        gpus=samples.b200x8(),
        model="m",
        profiles={"m": profile},
        extra_args=["--enable-prefix-caching"],
        allow_unknown_args=True,
    )
    assert plan["command"][-1] == "--enable-prefix-caching"
    # No extra_args: nothing to check, the deployment still plans.
    assert build_plan(gpus=samples.b200x8(), model="m", profiles={"m": profile})["deployment"] == "b200-vllm"


# --- publish_address -------------------------------------------------------------------------------------
def test_publish_address_unset_keeps_the_seed_port_and_hash():
    plan = build_plan(gpus=samples.b200x8())
    assert plan["publish_address"] == "" and plan["container"]["ports"] == ["8000:8000"]
    assert build_plan(gpus=samples.b200x8(), publish_address="")["hash"] == plan["hash"]


@pytest.mark.parametrize(
    "address, published",
    [
        ("127.0.0.1", "127.0.0.1:8000:8000"),
        ("10.0.0.5", "10.0.0.5:8000:8000"),
        ("::1", "[::1]:8000:8000"),
        ("fd00::0:5", "[fd00::5]:8000:8000"),
    ],
)
def test_publish_address_binds_the_port(address, published):
    plan = build_plan(gpus=samples.b200x8(), publish_address=address)
    assert plan["container"]["ports"] == [published]
    run = plan["docker_run"]
    assert run[run.index("-p") + 1] == published
    assert plan["publish_address"] == address
    assert plan["hash"] != build_plan(gpus=samples.b200x8())["hash"]


@pytest.mark.parametrize("address", ["localhost", "1.2.3", "0.0.0.0:80", "fe80::1%eth0", "10.0.0.5 ", 5])
def test_publish_address_refused(address):
    exc = refused(publish_address=address)
    assert exc.details["option"] == "publish_address"
    assert str(exc).startswith("publish_address ")


def test_module_passes_publish_address_and_reports_the_option_on_failure():
    plan = run_module(serving_plan, {"gpus": samples.b200x8(), "publish_address": "127.0.0.1"})["plan"]
    assert plan["container"]["ports"] == ["127.0.0.1:8000:8000"]
    result = run_module(serving_plan, {"gpus": samples.b200x8(), "publish_address": "my-host"}, expect_failure=True)
    assert result["option"] == "publish_address"
    assert "not an IPv4 or IPv6 address" in result["msg"]


# --- every failure names its option ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, option",
    [
        (dict(gpus=samples.gpus("A100")), "gpus"),
        (dict(gpus=samples.mig()), "gpus"),
        (dict(gpus=samples.h100x8(), engine="vllm"), "engine"),
        (dict(gpus=samples.b200x8(), model="llama"), "model"),
        (dict(gpus=samples.b200x8(), profiles={"p": {"builds": {}}}), "profiles"),
        (dict(gpus=samples.h100x8(), tensor_parallel_size=3), "tensor_parallel_size"),
        (dict(gpus=samples.gpus("H100", 4)), "gpus"),
        (dict(gpus=samples.b200x8(driver="575.57.08")), "gpus"),
        (dict(gpus=samples.b200x8(driver="570.124.06"), image="lmsysorg/sglang:v0.6-cu130"), "image"),
        (dict(gpus=samples.b200x8(), port=0), "port"),
        (dict(gpus=samples.b200x8(), engine="sglang", extra_args=["--tp-size=2"]), "extra_args"),
        (dict(gpus=samples.b200x8(), env={"HF_TOKEN": "x"}), "env"),
        (dict(gpus=samples.b200x8(), allow_unknown_args="yes"), "allow_unknown_args"),
    ],
)
def test_every_refusal_carries_the_option(kwargs, option):
    with pytest.raises(PlanError) as caught:
        build_plan(**kwargs)
    assert caught.value.details == {"option": option}


def test_module_failure_returns_msg_and_option():
    result = run_module(serving_plan, {"gpus": samples.b200x8(), "extra_args": ["--no-such-flag"]}, expect_failure=True)
    assert result["option"] == "extra_args"
    assert result["msg"].startswith("extra_args: '--no-such-flag' is not a flag of vLLM 0.33.0")
    plan = run_module(
        serving_plan, {"gpus": samples.b200x8(), "extra_args": ["--no-such-flag"], "allow_unknown_args": True}
    )["plan"]
    assert plan["command"][-1] == "--no-such-flag"
