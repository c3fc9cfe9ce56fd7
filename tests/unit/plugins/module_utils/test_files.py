"""Files a module writes (_files.write_file), seen through llm_benchmark's result_path.

driver=engine needs no server: the module normalises a saved engine result and writes it, so every case
here runs the module's real option handling, check mode and diff mode.
"""

import json
import os
import stat

import pytest
from helpers.module_runner import run_module

from ansible_collections.llmfleet.serving.plugins.module_utils import _files
from ansible_collections.llmfleet.serving.plugins.modules import llm_benchmark

# Shape of `vllm bench serve --save-result` (field names from vLLM's serve.py).
ENGINE_JSON = {
    "backend": "openai-chat",
    "model_id": "deepseek-ai/DeepSeek-V4-Flash",
    "num_prompts": 512,
    "completed": 512,
    "failed": 0,
    "duration": 356.9,
    "output_throughput": 1469.0,
    "total_token_throughput": 13217.0,
    "mean_ttft_ms": 1452.0,
    "p99_ttft_ms": 10085.0,
    "mean_tpot_ms": 20.4,
    "p99_tpot_ms": 28.5,
    "mean_itl_ms": 20.3,
    "p99_itl_ms": 175.9,
}


def bench(path, **kw):
    args = {
        "base_url": "http://127.0.0.1:8000",
        "served_model_name": "deepseek",
        "driver": "engine",
        "engine": "vllm",
        "engine_result": ENGINE_JSON,
        "result_path": str(path),
    }
    return run_module(llm_benchmark, args, **kw)


def leftovers(directory):
    """Anything in ``directory`` besides the result: a temporary file left behind."""
    return sorted(name for name in os.listdir(directory) if name != "r.json")


def test_the_result_is_written_whole_with_mode_0644(tmp_path):
    path = tmp_path / "results" / "r.json"
    out = bench(path)
    assert out["changed"] is True
    assert json.loads(path.read_text()) == out["result"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert leftovers(path.parent) == []
    assert "diff" not in out  # only in diff mode


def test_the_same_result_again_leaves_the_file_alone(tmp_path):
    path = tmp_path / "r.json"
    bench(path)
    inode = path.stat().st_ino
    out = bench(path)
    assert out["changed"] is False
    assert path.stat().st_ino == inode


def test_a_new_result_replaces_the_file_by_rename_not_in_place(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"old": true}\n')
    os.chmod(path, 0o600)
    # a reader that opened the old file keeps reading the old file whole (a rename, not a rewrite in place)
    with open(path) as reader:
        out = bench(path)
        assert reader.read() == '{"old": true}\n'
    assert out["changed"] is True
    assert json.loads(path.read_text())["completed"] == 512
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the documented mode, not the old file's
    assert leftovers(tmp_path) == []


def test_check_mode_writes_nothing_and_says_it_would_change(tmp_path):
    path = tmp_path / "sub" / "r.json"
    out = bench(path, check_mode=True)
    assert out["changed"] is True
    assert not path.parent.exists()


def test_diff_mode_shows_the_file_before_and_after(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"old": true}\n')
    out = bench(path, diff=True)
    diff = out["diff"]
    assert diff["before"] == '{"old": true}\n'
    assert json.loads(diff["after"]) == out["result"] == json.loads(path.read_text())
    assert diff["before_header"] == diff["after_header"] == str(path)


def test_check_and_diff_mode_show_the_diff_and_write_nothing(tmp_path):
    path = tmp_path / "r.json"
    out = bench(path, check_mode=True, diff=True)
    assert out["changed"] is True
    assert out["diff"]["before"] == "" and json.loads(out["diff"]["after"])["completed"] == 512
    assert not path.exists()
    assert leftovers(tmp_path) == []


class _Module:
    """The two AnsibleModule attributes write_file reads, and an atomic_move that fails like a full disk."""

    check_mode = False
    _diff = False

    def atomic_move(self, src, dest):
        raise OSError(28, "No space left on device")


def test_a_failed_move_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old\n")
    with pytest.raises(OSError, match="No space left"):
        _files.write_file(_Module(), str(path), "new\n")
    assert path.read_text() == "old\n"
    assert leftovers(tmp_path) == []
