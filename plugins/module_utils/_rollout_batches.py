# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a rollout's batches keep each multi-node cell together (playbooks/rollout.yml).

The ranks of a cell run one engine: the head is only ready when every rank has joined, and a rank restarted onto
a new plan cannot join a head that still runs the old one (or the other way round). A rollout must therefore
drain and restart a cell's hosts in one batch. Ansible cuts a ``serial`` play into batches of consecutive hosts
in play order; this module computes those batches the way Ansible does and names the cells they split.
"""

from __future__ import annotations

import re

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import LlmfleetError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import show

_BATCH_RE = re.compile(r"^(?:[1-9][0-9]*|(?:[1-9][0-9]?|100)%)$")


class BatchError(LlmfleetError):
    """The rollout's batch setting or its fleet plan cannot be read."""


def batch_size(batch, host_count):
    """Hosts per batch, as Ansible's ``serial`` gives it (ansible.utils.helpers.pct_to_int): '25%' of 10 -> 2."""
    text = str(batch)
    if not _BATCH_RE.match(text):
        raise BatchError(
            "rollout_batch must be a host count (1, 2, ...) or a percentage such as 25%%, got %s" % show(batch)
        )
    if text.endswith("%"):
        return int(int(text[:-1]) / 100.0 * host_count) or 1
    return int(text)


def _cells(fleet):
    """cell name -> the hosts that run one of its ranks (fleet plan order)."""
    if not isinstance(fleet, dict) or not isinstance(fleet.get("hosts"), dict):
        raise BatchError("the fleet plan (llmfleet_fleet) must be a mapping with hosts, got %s" % show(fleet))
    cells = {}
    for host, entry in fleet["hosts"].items():
        for inst in (entry or {}).get("instances") or []:
            cell = inst.get("cell")
            if cell and host not in cells.setdefault(cell, []):
                cells[cell].append(host)
    return cells


def _split(hosts, size, members):
    """Whether ``size`` hosts per batch put ``members`` (all in ``hosts``) in more than one batch."""
    return len({hosts.index(h) // size for h in members}) > 1


def _adjacent(hosts, members):
    """Whether ``members`` stand next to each other in the play order."""
    places = sorted(hosts.index(h) for h in members)
    return places[-1] - places[0] == len(places) - 1


def batch_hosts(fleet, hosts, changed):
    """The hosts the rollout's batches go through, in play order: those in ``changed`` (a restart or a server to put
    back) and every other host of a cell one of them runs a rank of, so that a cell's hosts stay in one batch.

    ``hosts``: the rollout's hosts (the target) in play order; ``changed``: the hosts whose instances change. A
    host outside ``hosts`` is never added (cell_batch_problems refuses such a cell)."""
    for name, value in (("hosts", hosts), ("changed", changed)):
        if not isinstance(value, list):
            raise BatchError("%s must be a list of inventory host names, got %s" % (name, show(value)))
    wanted = set(changed)
    for members in _cells(fleet).values():
        if wanted.intersection(members):
            wanted.update(members)
    return [h for h in hosts if h in wanted]


def cell_batch_problems(fleet, hosts, batch, restart=None):
    """One sentence per cell that the rollout would split; [] when every cell's hosts share one batch.

    ``hosts``: the rollout's hosts in play order (the target); ``batch``: rollout_batch; ``restart``: the hosts the
    serial play runs on, in play order (batch_hosts: the ones with work), which Ansible cuts into batches; default
    ``hosts``. A cell with a host outside the target is split too: its other ranks would not be restarted with it.
    """
    if not isinstance(hosts, list):
        raise BatchError("hosts must be the rollout's hosts in play order, got %s" % show(hosts))
    if restart is None:
        restart = hosts
    if not isinstance(restart, list):
        raise BatchError("restart must be the hosts the batches run on, in play order, got %s" % show(restart))
    size = batch_size(batch, len(restart))
    cells = _cells(fleet)
    problems = []
    split = {}
    for cell, members in cells.items():
        outside = [h for h in members if h not in hosts]
        if outside:
            problems.append(
                "cell %s runs on %s, but %s %s not among the rollout's hosts (target): a rank restarted alone "
                "cannot join the others; target the whole cell"
                % (cell, ", ".join(members), ", ".join(outside), "is" if len(outside) == 1 else "are")
            )
        elif all(h in restart for h in members) and _split(restart, size, members):
            split[cell] = members
    if split:
        whole = [m for m in cells.values() if all(h in restart for h in m)]
        # The smallest batch size that keeps every cell whole (all hosts in one batch always does).
        fits = next(n for n in range(1, len(restart) + 1) if not any(_split(restart, n, m) for m in whole))
        for cell, members in split.items():
            problems.append(
                "cell %s runs on %s, which rollout_batch=%s (%d host(s) a batch) puts in different batches (%s): "
                "its ranks run one engine and must restart together; give rollout_batch=%d%s"
                % (
                    cell,
                    ", ".join(members),
                    batch,
                    size,
                    "; ".join("%s in batch %d" % (h, restart.index(h) // size + 1) for h in members),
                    fits,
                    ""
                    if _adjacent(restart, members)
                    else " (or list the cell's hosts next to each other in the inventory, for smaller batches)",
                )
            )
    return problems
