"""The weights role's copy tree (filter weights_waves): peers copy a build from hosts that already hold it, no
host serves more than weights_fanout peers at once, the fleet is covered in the fewest waves, and a bad
weights_fanout is refused with the variable, the value and what would work."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.filter.weights import FilterModule, weights_waves


def fleet(n):
    """A fleet of n hosts: the seeder, then n - 1 peers in play order."""
    return "seed", ["peer%02d" % i for i in range(1, n)]


def fewest_waves(hosts, fanout):
    """ceil(log_{fanout+1}(hosts)) in integers: one holder, every holder serves fanout peers a wave."""
    waves, have = 0, 1
    while have < hosts:
        have *= fanout + 1
        waves += 1
    return waves


@pytest.mark.parametrize("fanout", [1, 2, 4])
@pytest.mark.parametrize("n", [1, 2, 3, 10, 100])
def test_every_peer_copies_once_from_a_host_that_already_holds_the_verified_build(n, fanout):
    seeder, peers = fleet(n)
    waves = weights_waves(peers, [seeder], fanout)
    holders = {seeder}
    copied = []
    for number, wave in enumerate(waves, 1):
        assert wave, "wave %d is empty" % number
        # Every source had the build before this wave began (the seeder, or a peer of an earlier wave).
        assert set(wave.values()) <= holders, (number, wave, holders)
        # No source serves more than fanout peers at once.
        per_source = {}
        for source in wave.values():
            per_source[source] = per_source.get(source, 0) + 1
        assert max(per_source.values()) <= fanout, (number, per_source)
        holders |= set(wave)
        copied += list(wave)
    # Each peer copies exactly once, the seeder never.
    assert sorted(copied) == sorted(peers)
    # The tree covers the fleet in the fewest waves a fan-out of this size allows.
    assert len(waves) == fewest_waves(n, fanout), [len(w) for w in waves]


def test_the_seeders_uplink_carries_far_fewer_copies_than_a_star():
    seeder, peers = fleet(100)
    waves = weights_waves(peers, [seeder], 4)
    from_seeder = sum(1 for w in waves for s in w.values() if s == seeder)
    # A star would send 99 copies through the seeder; the tree at most fanout per wave.
    assert from_seeder <= 4 * len(waves) and len(waves) == 3
    assert sum(len(w) for w in waves) == 99


def test_three_hosts_with_fanout_1_the_second_wave_copies_from_the_first_peer():
    # The molecule scenario's fleet: the seeder's uplink serves only the first copy.
    assert weights_waves(["weights-peer", "weights-peer2"], ["weights-seeder"], 1) == [
        {"weights-peer": "weights-seeder"},
        {"weights-peer2": "weights-peer"},
    ]


def test_a_fanout_as_large_as_the_fleet_copies_all_from_the_seeder_in_one_wave():
    seeder, peers = fleet(10)
    assert weights_waves(peers, [seeder], 9) == [{p: seeder for p in peers}]


def test_peers_that_already_hold_the_build_serve_from_the_first_wave():
    # A re-run after one peer lost a blob: the complete peer serves it, the seeder is spared.
    assert weights_waves(["p2"], ["seed", "p1"], 1) == [{"p2": "p1"}]
    waves = weights_waves(["p3", "p4", "p5"], ["seed", "p1", "p2"], 1)
    assert waves == [{"p3": "p1", "p4": "p2", "p5": "seed"}]


def test_the_plan_is_deterministic_and_follows_the_play_order():
    seeder, peers = fleet(30)
    first = weights_waves(peers, [seeder], 2)
    assert weights_waves(list(peers), [seeder], 2) == first
    assert [list(w) for w in first] == [peers[:2], peers[2:8], peers[8:26], peers[26:]]
    # Another order gives another (equally valid) plan: the order is the input, not a hidden sort.
    assert weights_waves(peers[::-1], [seeder], 2)[0] == {peers[-1]: seeder, peers[-2]: seeder}


def test_nothing_to_copy_is_no_waves():
    assert weights_waves([], ["seed"], 4) == []


def test_a_whole_number_given_as_text_works():
    # -e weights_fanout=2 arrives as the string "2".
    assert weights_waves(["a", "b", "c"], ["s"], "2") == weights_waves(["a", "b", "c"], ["s"], 2)


@pytest.mark.parametrize("bad", [0, -1, "0", "four", 1.5, True, None, "", [2]])
def test_a_bad_fanout_is_refused_naming_the_variable_the_value_and_what_works(bad):
    with pytest.raises(AnsibleFilterError) as err:
        weights_waves(["p1"], ["seed"], bad)
    msg = str(err.value)
    assert msg.startswith("weights_fanout is %r" % (bad,)), msg
    assert "at least 1" in msg and "e.g. 4" in msg, msg


def test_the_message_names_the_variable_the_caller_passes():
    with pytest.raises(AnsibleFilterError, match="^rollout_weights_fanout is 0"):
        weights_waves(["p1"], ["seed"], 0, "rollout_weights_fanout")


@pytest.mark.parametrize(
    "needers, holders, fragment",
    [
        (["p1"], [], "no host holds the build"),
        (["p1", "p1"], ["seed"], "names 'p1' twice"),
        (["seed"], ["seed"], "seed both hold the build and copy it"),
        ("p1", ["seed"], "must be a list of host names"),
    ],
)
def test_host_lists_that_cannot_give_a_plan_are_refused(needers, holders, fragment):
    with pytest.raises(AnsibleFilterError, match=fragment):
        weights_waves(needers, holders, 2)


def test_the_filter_is_registered_under_its_documented_name():
    assert FilterModule().filters() == {"weights_waves": weights_waves}
