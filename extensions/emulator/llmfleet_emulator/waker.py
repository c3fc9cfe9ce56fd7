"""One timer for many sleepers: the streams' chunk deadlines share a heap and a single loop timer.

A timer per chunk (``asyncio.sleep``) costs an allocation and, under uvloop, a libuv timer each;
with hundreds of streams due within the same millisecond one wake-up serves them all. uvloop
rounds timers to whole milliseconds, so there a deadline less than 1 ms away waits 1 ms instead of
spinning; nobody is woken more than ``GRACE_S`` before its deadline.
"""

from __future__ import annotations

import heapq
import itertools
import time

GRACE_S = 0.0001


class Waker:
    def __init__(self, loop):
        self.loop = loop
        self.heap = []
        self.handle = None
        self.armed_at = None
        self.order = itertools.count()
        self.min_delay = 0.001 if "uvloop" in type(loop).__module__ else 0.0

    def wait_until(self, due):
        """A future that completes at monotonic time ``due`` (or up to GRACE_S before)."""
        fut = self.loop.create_future()
        heapq.heappush(self.heap, (due, next(self.order), fut))
        if self.armed_at is None or due < self.armed_at:
            self._arm(due)
        return fut

    def _arm(self, due):
        if self.handle is not None:
            self.handle.cancel()
        delay = due - time.monotonic()
        if delay < self.min_delay:
            delay = self.min_delay
        self.armed_at = due
        self.handle = self.loop.call_later(delay, self._fire)

    def _fire(self):
        self.handle = None
        self.armed_at = None
        heap = self.heap
        limit = time.monotonic() + GRACE_S
        while heap and heap[0][0] <= limit:
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(None)
        if heap:
            self._arm(heap[0][0])
