"""The plan_changes filter names, per instance, what a new plan changes in the running server."""

import pytest
from ansible.errors import AnsibleFilterError
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.filter.plan_changes import plan_changes
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet


def _replicas(tp):
    fleet = plan_fleet(
        {
            "h1": {
                "gpus": samples.b200x8(),
                "address": "10.0.0.1",
                "choices": {"engine": "vllm", "tensor_parallel_size": tp},
            }
        }
    )
    return fleet["hosts"]["h1"]["instances"]


def test_an_unchanged_instance_has_no_changes():
    (first, second) = _replicas(4)
    assert plan_changes(first, first) == [] and plan_changes(second, second) == []


def test_a_tensor_parallel_change_is_named_per_instance():
    (before,) = [i for i in _replicas(4) if i["index"] == 0]
    (after,) = [i for i in _replicas(8) if i["index"] == 0]
    summaries = [c["summary"] for c in plan_changes(before, after)]
    assert "tensor_parallel_size: 4 -> 8" in summaries


def test_nothing_deployed_lists_every_key():
    (first, _second) = _replicas(4)
    keys = [c["key"] for c in plan_changes(None, first)]
    assert "tensor_parallel_size" in keys and "image" in keys


def test_a_plan_that_is_not_a_mapping_is_refused_naming_it():
    with pytest.raises(AnsibleFilterError, match="new plan must be a mapping"):
        plan_changes({}, "tp=8")
