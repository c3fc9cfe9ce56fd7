"""What a new plan changes in the running server, as a reviewer of --check --diff reads it."""

from helpers.gpu_fact_samples import b200x8, h100x8

from ansible_collections.llmfleet.serving.plugins.module_utils._plan import HASHED_KEYS, build_plan
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_diff import plan_changes, plan_diff


def summaries(previous, current):
    return [c["summary"] for c in plan_changes(previous, current, HASHED_KEYS)]


def test_tensor_parallel_size_change_reads_as_before_and_after():
    before = build_plan(b200x8(), engine="vllm")
    after = build_plan(b200x8(), engine="vllm", tensor_parallel_size=8)
    lines = summaries(before, after)
    assert "tensor_parallel_size: 4 -> 8" in lines
    # The command changes with it; the line names the flag's old and new value, not the whole argv.
    assert "command: removed 4; added 8" in lines
    assert len(lines) == 2


def test_same_plan_has_no_change():
    plan = build_plan(h100x8(), engine="sglang")
    assert summaries(plan, build_plan(h100x8(), engine="sglang")) == []


def test_env_key_added_and_removed_are_named():
    before = build_plan(h100x8(), engine="sglang")
    after = build_plan(h100x8(), engine="sglang", env={"NCCL_DEBUG": "INFO"})
    assert summaries(before, after) == ["env.NCCL_DEBUG: (unset) -> INFO"]
    assert summaries(after, before) == ["env.NCCL_DEBUG: INFO -> (unset)"]


def test_extra_flag_shows_as_added_to_the_command():
    before = build_plan(b200x8(), engine="vllm")
    after = build_plan(b200x8(), engine="vllm", extra_args=["--max-num-seqs", "64"])
    assert summaries(before, after) == ["command: added --max-num-seqs 64"]


def test_first_deploy_lists_every_server_key():
    plan = build_plan(b200x8(), engine="vllm")
    keys = {c["key"].split(".")[0] for c in plan_changes(None, plan, HASHED_KEYS)}
    assert keys == set(HASHED_KEYS)


def test_reasons_never_count_as_a_change():
    before = build_plan(b200x8(), engine="vllm")
    after = dict(before, reasons=["something else"])
    assert summaries(before, after) == []


def test_diff_text_has_one_line_per_change():
    before = build_plan(b200x8(), engine="vllm", port=8000)
    after = build_plan(b200x8(), engine="vllm", port=8100)
    diff = plan_diff(before, after, HASHED_KEYS)
    assert "port: 8000\n" in diff["before"]
    assert "port: 8100\n" in diff["after"]
    assert "container.ports:\n  8100:8100\n" in diff["after"]


def test_diff_text_lists_an_argv_one_item_a_line():
    before = build_plan(b200x8(), engine="vllm")
    after = build_plan(b200x8(), engine="vllm", tensor_parallel_size=8)
    diff = plan_diff(before, after, HASHED_KEYS)
    assert "tensor_parallel_size: 4\n" in diff["before"] and "tensor_parallel_size: 8\n" in diff["after"]
    assert "command:\n  --model\n" in diff["before"]
    assert "  --tensor-parallel-size\n  4\n" in diff["before"] and "  --tensor-parallel-size\n  8\n" in diff["after"]
