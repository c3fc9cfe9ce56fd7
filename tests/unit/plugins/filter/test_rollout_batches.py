"""A rollout restarts a multi-node cell's hosts in one batch: the batches Ansible's serial would make are checked
against the fleet plan's cells before anything is drained, with the rollout_batch that would work."""

import pytest
from ansible.errors import AnsibleFilterError
from helpers import gpu_fact_samples as samples

from ansible_collections.llmfleet.serving.plugins.filter.rollout_batches import (
    rollout_batch_hosts,
    rollout_cell_batches,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._fleet import plan_fleet
from ansible_collections.llmfleet.serving.plugins.module_utils._rollout_batches import batch_size


def fleet(order):
    """The demo's fleet: a packed 8 x B200 host, an 8 x H100 host and a TP 8 cell of two 4 x H100 hosts."""
    hosts = {
        "b200": {"gpus": samples.b200x8(), "address": "10.0.0.1", "choices": {"engine": "vllm"}},
        "h100": {"gpus": samples.h100x8(), "address": "10.0.0.2"},
        "h100-a": {"gpus": samples.gpus("H100", 4), "address": "10.0.1.1", "cell": "pair"},
        "h100-b": {"gpus": samples.gpus("H100", 4), "address": "10.0.1.2", "cell": "pair"},
    }
    return plan_fleet(hosts, order)


ORDER = ["b200", "h100-a", "h100-b", "h100"]


def test_one_host_a_batch_splits_the_cell_and_names_the_batch_size_that_works():
    (problem,) = rollout_cell_batches(fleet(ORDER), ORDER, 1)
    assert problem.startswith("cell pair runs on h100-a, h100-b, which rollout_batch=1 (1 host(s) a batch)")
    assert "h100-a in batch 2; h100-b in batch 3" in problem
    # Batches of 2 are [b200, h100-a], [h100-b, h100]: still split; 3 keeps the cell in the first batch.
    assert "give rollout_batch=3" in problem
    # The cell's hosts already stand together: reordering the inventory is not offered.
    assert "next to each other" not in problem


def test_a_cell_whose_hosts_are_apart_is_told_to_list_them_together():
    order = ["h100-a", "b200", "h100-b", "h100"]
    (problem,) = rollout_cell_batches(fleet(order), order, 2)
    assert "h100-a in batch 1; h100-b in batch 2" in problem
    assert "give rollout_batch=3 (or list the cell's hosts next to each other in the inventory" in problem


def test_a_batch_size_that_keeps_the_cell_whole_passes():
    order = ["h100-a", "h100-b", "b200", "h100"]
    assert rollout_cell_batches(fleet(order), order, 2) == []
    assert rollout_cell_batches(fleet(ORDER), ORDER, 3) == []
    assert rollout_cell_batches(fleet(ORDER), ORDER, "100%") == []


def test_a_percentage_is_cut_as_ansible_cuts_it():
    # ansible.utils.helpers.pct_to_int: rounded down, at least one host.
    assert batch_size("25%", 4) == 1
    assert batch_size("50%", 4) == 2
    assert batch_size("10%", 4) == 1
    assert batch_size("75%", 4) == 3
    assert "rollout_batch=50%" in rollout_cell_batches(fleet(ORDER), ORDER, "50%")[0]


def test_a_cell_partly_outside_the_target_is_refused():
    (problem,) = rollout_cell_batches(fleet(ORDER), ["b200", "h100-a", "h100"], 4)
    assert "cell pair runs on h100-a, h100-b, but h100-b is not among the rollout's hosts" in problem


def test_a_fleet_without_cells_is_never_refused():
    order = ["b200", "h100"]
    plan = plan_fleet(
        {
            "b200": {"gpus": samples.b200x8(), "address": "10.0.0.1", "choices": {"engine": "vllm"}},
            "h100": {"gpus": samples.h100x8(), "address": "10.0.0.2"},
        },
        order,
    )
    assert rollout_cell_batches(plan, order, 1) == []


@pytest.mark.parametrize("bad", [0, "0", "abc", "150%", -1])
def test_a_bad_batch_is_refused_naming_rollout_batch(bad):
    with pytest.raises(AnsibleFilterError, match="rollout_batch must be a host count"):
        rollout_cell_batches(fleet(ORDER), ORDER, bad)


# The serial play runs only on the hosts with work (rollout_batch_hosts): the batches are cut from those.


def test_the_batches_go_through_the_hosts_with_work_and_their_cells_other_hosts_in_play_order():
    plan = fleet(ORDER)
    assert rollout_batch_hosts(plan, ORDER, []) == []
    assert rollout_batch_hosts(plan, ORDER, ["h100", "b200"]) == ["b200", "h100"]
    # A worker repaired alone still shares its batch with its head (the head restarts nothing it need not).
    assert rollout_batch_hosts(plan, ORDER, ["h100-b"]) == ["h100-a", "h100-b"]
    # A cell's host outside the target is not added: rollout_cell_batches refuses that cell.
    assert rollout_batch_hosts(plan, ["b200", "h100-b"], ["h100-b"]) == ["h100-b"]


def test_the_cell_check_cuts_the_batches_from_the_hosts_with_work():
    # Whole fleet in batches of 2 is [b200, h100-a], [h100-b, h100]: split. With only the cell to restart, its two
    # hosts are the one batch: passed.
    plan = fleet(ORDER)
    assert rollout_cell_batches(plan, ORDER, 2)
    assert rollout_cell_batches(plan, ORDER, 2, ["h100-a", "h100-b"]) == []
    # The other way round: the whole fleet in 2s keeps the cell whole, the hosts with work do not.
    order = ["b200", "h100", "h100-a", "h100-b"]
    assert rollout_cell_batches(plan, order, 2) == []
    restart = rollout_batch_hosts(plan, order, ["h100", "h100-a"])
    assert restart == ["h100", "h100-a", "h100-b"]
    (problem,) = rollout_cell_batches(plan, order, 2, restart)
    assert "h100-a in batch 1; h100-b in batch 2" in problem and "give rollout_batch=3" in problem
    # A percentage is of the hosts with work: 50% of 3 is 1 a batch.
    assert "(1 host(s) a batch)" in rollout_cell_batches(plan, order, "50%", restart)[0]


def test_a_settled_cell_is_not_checked_for_a_split():
    # Nothing to do on the cell: one host a batch over b200 and h100 never reaches it.
    assert rollout_cell_batches(fleet(ORDER), ORDER, 1, ["b200", "h100"]) == []


def test_a_cell_partly_outside_the_target_is_refused_even_when_nothing_else_changes():
    (problem,) = rollout_cell_batches(fleet(ORDER), ["b200", "h100-a", "h100"], 1, ["b200"])
    assert "h100-b is not among the rollout's hosts" in problem


@pytest.mark.parametrize("name, value", [("hosts", "b200"), ("changed", None)])
def test_batch_hosts_refuses_what_is_not_a_list_naming_it(name, value):
    args = {"hosts": ORDER, "changed": []}
    args[name] = value
    with pytest.raises(AnsibleFilterError, match="^%s must be a list of inventory host names, got " % name):
        rollout_batch_hosts(fleet(ORDER), **args)
