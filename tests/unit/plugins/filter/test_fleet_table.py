import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.filter.fleet_table import fleet_table


def test_columns_align_and_headers_rename():
    rows = [
        {"host": "b200-node", "engine": "vllm", "tok_s": 1469.04},
        {"host": "h100-node-long", "engine": "sglang", "tok_s": 1262.0},
    ]
    lines = fleet_table(rows, ["host=Host", "engine=Engine", "tok_s=Output tok/s"])
    assert lines[0].split() == ["Host", "Engine", "Output", "tok/s"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["b200-node", "vllm", "1469.0"]
    # Every column starts at the same offset on every line.
    assert lines[2].index("vllm") == lines[3].index("sglang") == lines[0].index("Engine")


def test_missing_values_and_booleans():
    lines = fleet_table([{"host": "a", "ok": True}, {"host": "b"}], ["host", "ok"])
    assert lines[2].split() == ["a", "yes"]
    assert lines[3].split() == ["b", "-"]


def test_rejects_non_rows():
    with pytest.raises(AnsibleFilterError, match="list of dictionaries"):
        fleet_table("not rows")
