# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who copies a model build from whom, wave by wave (llmfleet.serving.weights, filter weights_waves).

A build of 146-284 GB copied to N-1 peers from the one seeder puts N-1 copies through the seeder's uplink. Here
the copy is a tree instead: in each wave every host that holds the verified build serves at most ``fanout`` peers
at once, and the peers that copied (and verified) in a wave serve in the next one. With one holder at the start,
the holders grow (fanout + 1)-fold a wave, so N hosts need ceil(log_{fanout+1}(N)) waves, and no host's uplink
carries more than ``fanout`` copies at a time.

Pure and deterministic: the same hosts in the same order give the same waves, so the controller computes them
once for the play (no randomness, no clock, no host facts).
"""

from __future__ import annotations

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import show


class FanoutError(LlmfleetError):
    """The fan-out setting or the host lists cannot give a copy plan."""


def check_fanout(fanout, name="weights_fanout"):
    """``fanout`` as an int >= 1, or a FanoutError naming the variable, the value and what works."""
    # bool is an int in Python: true would silently mean 1.
    if isinstance(fanout, bool) or not isinstance(fanout, int):
        text = fanout.strip() if isinstance(fanout, str) else None
        if text and text.isdigit() and int(text) >= 1:
            return int(text)
        raise FanoutError(
            "%s is %s: it must be a whole number of at least 1, the peers one host serves the build to at once "
            "(e.g. 4; 1 copies one peer at a time from each host that has it; a number at least the count of "
            "peers copies them all from the seeder in one wave)" % (name, show(fanout)),
            option=name,
        )
    if fanout < 1:
        raise FanoutError(
            "%s is %s: it must be at least 1, the peers one host serves the build to at once (e.g. 4; 1 copies "
            "one peer at a time from each host that has it)" % (name, show(fanout)),
            option=name,
        )
    return fanout


def _host_list(value, what):
    if not isinstance(value, (list, tuple)) or not all(isinstance(h, str) and h for h in value):
        raise FanoutError("%s must be a list of host names, got %s" % (what, show(value)))
    seen = set()
    for host in value:
        if host in seen:
            raise FanoutError("%s names %s twice: each host holds or copies the build once" % (what, show(host)))
        seen.add(host)
    return list(value)


def copy_waves(needers, holders, fanout, name="weights_fanout"):
    """The copy plan: a list of waves, each an ordered dict {peer: the host it copies from}.

    ``holders``: the hosts that have the verified build before any copy, the seeder first, then in play order.
    ``needers``: the hosts that must copy it, in play order. ``fanout``: peers one host serves at once.

    Wave k's sources are the holders plus every peer of waves 1..k-1; each serves at most ``fanout`` peers in a
    wave. Peers are dealt out round-robin so that a partly filled last wave spreads over many sources, and the
    seeder comes last in the deal: the peers' uplinks take what they can before the seeder's (which fed the
    first wave and ran the hub download) takes more. The result repeats exactly for the same input.
    """
    fanout = check_fanout(fanout, name)
    needers = _host_list(needers, "the hosts that copy the build")
    holders = _host_list(holders, "the hosts that hold the build")
    both = [h for h in needers if h in holders]
    if both:
        raise FanoutError("%s both hold the build and copy it" % ", ".join(both))
    if needers and not holders:
        raise FanoutError("no host holds the build to copy it from (the seeder must have it first)")
    waves = []
    seeder, peers = holders[0:1], holders[1:]
    remaining = needers
    while remaining:
        sources = peers + seeder  # the seeder last: see above
        take = remaining[: len(sources) * fanout]
        wave = {host: sources[i % len(sources)] for i, host in enumerate(take)}
        waves.append(wave)
        peers = peers + take
        remaining = remaining[len(take) :]
    return waves
