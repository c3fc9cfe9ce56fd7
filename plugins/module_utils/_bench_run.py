# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The measured run: the event loop, the concurrency slots that send the planned requests, the arrival
schedule, and the forked worker processes that share one prompt counter (``workers > 1``).
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import random
import time

from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_metrics as metrics_mod
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_aiohttp import new_session, send_request
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_config import auth_headers
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_raw import RawTarget, send_request_raw
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError

try:
    import uvloop

    HAS_UVLOOP = True
except ImportError:
    uvloop = None
    HAS_UVLOOP = False

perf_counter = time.perf_counter
PROGRESS_INTERVAL = 1.0


def run_loop(coro, use_uvloop=True):
    """Run ``coro`` on a fresh event loop (uvloop when available) and close the loop."""
    loop = uvloop.new_event_loop() if (use_uvloop and HAS_UVLOOP) else asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def arrival_offsets(num, rate, burstiness, seed):
    """vLLM's ``get_request`` schedule: gamma-distributed gaps (Poisson for burstiness 1), cumulated and
    rescaled so the last request is due at num / rate. None for an infinite rate (all due at once)."""
    if math.isinf(rate):
        return None
    rng = random.Random("arrivals:%s" % seed)
    delays = []
    for _index in range(num):
        if math.isinf(burstiness):
            delays.append(1.0 / rate)
        else:
            theta = 1.0 / (rate * burstiness)
            delays.append(rng.gammavariate(burstiness, theta))
    for i in range(1, num):
        delays[i] += delays[i - 1]
    if delays and delays[-1] != 0:
        factor = (num / rate) / delays[-1]
        delays = [d * factor for d in delays]
    return delays


class LocalCounter:
    def __init__(self, total):
        self.value = 0
        self.total = total

    def take(self):
        if self.value >= self.total:
            return None
        index = self.value
        self.value += 1
        return index


class _SharedCounter:
    """The next prompt index, shared by worker processes (a multiprocessing.Value)."""

    def __init__(self, value, total):
        self.shared = value
        self.total = total

    def take(self):
        with self.shared.get_lock():
            index = self.shared.value
            if index >= self.total:
                return None
            self.shared.value = index + 1
        return index


async def _lag_monitor(samples, stop, interval=0.01):
    """How late the event loop wakes up: a busy client shows here before it shows in latencies."""
    while not stop[0]:
        before = perf_counter()
        await asyncio.sleep(interval)
        samples.append(perf_counter() - before - interval)


async def drive(cfg, plan, counter, slots, t0, arrivals, on_done=None):
    """Send the planned requests with ``slots`` concurrent streams; return (records, self_check).

    ``plan[i]`` is ``(request_id, body, prompt_len, output_len)``; ``counter.take()`` hands out the next
    index (shared between processes); ``t0`` is the common start (perf_counter), ``arrivals`` the due
    offsets or None (all due at t0).
    """
    url = cfg["base_url"] + cfg["endpoint"]
    base_headers = dict(cfg["headers"] or {})
    base_headers.update(auth_headers(cfg))
    base_headers["Content-Type"] = "application/json"
    want_text = bool(cfg["save_generated_texts"])
    skip_role = bool(cfg["skip_role_chunk"])
    timeout_s = cfg["request_timeout"]
    raw = cfg["http_client"] == "raw"
    target = RawTarget(cfg) if raw else None
    idle_s = cfg["stream_idle_timeout"]
    records = []
    lag = []
    stop = [False]
    session = None if raw else new_session(cfg, slots)
    try:
        wait = t0 - perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        monitor = asyncio.ensure_future(_lag_monitor(lag, stop))
        cpu0, wall0 = time.process_time(), perf_counter()

        async def slot():
            conn = None
            while True:
                index = counter.take()
                if index is None:
                    if conn is not None and not conn.closed:
                        conn.transport.close()
                    return
                request_id, body, prompt_len, output_len = plan[index]
                rec = metrics_mod.RequestRecord(index, request_id, prompt_len, output_len)
                due = t0 if arrivals is None else t0 + arrivals[index]
                now = perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                rec.arrival_time = due
                if raw:
                    conn = await send_request_raw(
                        target, conn, request_id, body, rec, want_text, timeout_s, idle_s, skip_role
                    )
                else:
                    headers = dict(base_headers)
                    headers["x-request-id"] = request_id
                    await send_request(session, url, body, headers, rec, want_text, timeout_s, skip_role)
                records.append(rec)
                if on_done is not None:
                    on_done(rec)

        await asyncio.gather(*[slot() for dummy in range(slots)])
        wall = perf_counter() - wall0
        cpu = time.process_time() - cpu0
        stop[0] = True
        await monitor
    finally:
        if session is not None:
            await session.close()
    ordered = sorted(lag)
    check = {
        "pid": os.getpid(),
        "requests": len(records),
        "wall_s": wall,
        "cpu_percent": 100.0 * cpu / wall if wall > 0 else 0.0,
        "loop_lag_max_ms": (ordered[-1] * 1000.0) if ordered else 0.0,
        "loop_lag_p99_ms": metrics_mod.np_percentile_sorted(ordered, 99) * 1000.0,
        "loop_lag_samples": len(ordered),
    }
    return records, check


async def run_in_process(cfg, plan, arrivals, progress):
    total = len(plan)
    counter = LocalCounter(total)
    slots = min(cfg["max_concurrency"] or total, total)
    t0 = perf_counter() + 0.001
    state = {"done": 0, "last": perf_counter()}

    def on_done(_rec):
        state["done"] += 1
        now = perf_counter()
        if progress and (now - state["last"] >= PROGRESS_INTERVAL or state["done"] == total):
            state["last"] = now
            call_progress(progress, "run", state["done"], total, now - t0)

    records, check = await drive(cfg, plan, counter, slots, t0, arrivals, on_done)
    return records, [check], t0


def call_progress(progress, stage, done, total, elapsed):
    try:
        progress({"stage": stage, "done": done, "total": total, "elapsed_s": elapsed})
    except Exception:  # noqa: BLE001 - a broken progress display must not break the measurement
        pass


def _worker_slots(cfg, total, workers):
    if cfg["max_concurrency"] is None:
        return [total] * workers  # unlimited: any worker may need to hold every request
    limit = min(cfg["max_concurrency"], total)
    base, extra = divmod(limit, workers)
    return [base + (1 if w < extra else 0) for w in range(workers)]


def run_workers(cfg, plan, arrivals, progress):
    """Fork ``workers`` processes that share one prompt counter; merge their records."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # fork: the plan is inherited, and it works inside AnsiballZ
    total = len(plan)
    slots = [s for s in _worker_slots(cfg, total, cfg["workers"]) if s > 0]
    next_index = ctx.Value("q", 0)
    done = ctx.Value("q", 0)
    start = ctx.Event()
    t0_value = ctx.Value("d", 0.0)
    procs = []
    pipes = []
    gc.collect()
    for w, n_slots in enumerate(slots):
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_worker_main,
            name="llmfleet-bench-%d" % w,
            args=(cfg, plan, next_index, done, start, t0_value, n_slots, arrivals, writer),
        )
        proc.daemon = True
        proc.start()
        writer.close()
        procs.append(proc)
        pipes.append(reader)
    # every process is forked and waiting: set the common start a little ahead and go
    t0 = perf_counter() + 0.05
    t0_value.value = t0
    start.set()
    results = [None] * len(procs)
    last = perf_counter()
    try:
        waiting = set(range(len(procs)))
        while waiting:
            for w in list(waiting):
                if pipes[w].poll(0.2):
                    try:
                        results[w] = pipes[w].recv()
                    except EOFError:
                        results[w] = {
                            "error": "worker %d exited without a result (exit code %s)" % (w, procs[w].exitcode)
                        }
                    waiting.discard(w)
                elif not procs[w].is_alive() and not pipes[w].poll(0):
                    results[w] = {"error": "worker %d died (exit code %s)" % (w, procs[w].exitcode)}
                    waiting.discard(w)
            now = perf_counter()
            if progress and now - last >= PROGRESS_INTERVAL:
                last = now
                call_progress(progress, "run", done.value, total, now - t0)
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    records, checks = [], []
    for w, res in enumerate(results):
        if res.get("error"):
            raise BenchmarkError("Load-generator %s" % res["error"])
        records.extend(metrics_mod.RequestRecord.from_dict(d) for d in res["records"])
        res["check"]["worker"] = w
        checks.append(res["check"])
    if progress:
        call_progress(progress, "run", done.value, total, perf_counter() - t0)
    return records, checks, t0


def _worker_main(cfg, plan, next_index, done, start, t0_value, n_slots, arrivals, writer):
    """Body of one forked load-generator process."""
    try:
        start.wait()
        counter = _SharedCounter(next_index, len(plan))

        def on_done(_rec):
            with done.get_lock():
                done.value += 1

        gc.freeze()  # the inherited plan is static: keep the collector off it
        records, check = run_loop(
            drive(cfg, plan, counter, n_slots, t0_value.value, arrivals, on_done), cfg["use_uvloop"]
        )
        writer.send({"records": [r.to_dict() for r in records], "check": check})
    except BaseException as exc:  # noqa: BLE001 - report to the parent instead of dying silently
        try:
            writer.send({"error": "worker failed: %s: %s" % (type(exc).__name__, exc)})
        except Exception:  # noqa: BLE001
            pass
    finally:
        writer.close()
