"""Run the timing model on a virtual clock: the seed's closed-loop benchmark in a second.

``python3 -m llmfleet_emulator.simulate [--preset NAME] [--num-prompts 512] ...`` prints the
metrics ``vllm bench serve`` would report against the emulator (same definitions as REFERENCE.md
section 5: TTFT to the first ``choices`` message, which is the role chunk sent with the first token;
ITL between consecutive ``choices`` messages; TPOT = (E2EL - TTFT) / (output - 1)), beside the seed's
table. It drives the same :class:`timing.Engine` generator the server drives, so this is how the
presets were calibrated and how tests check them without waiting in real time.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import sys

from .presets import PRESETS, SEED_TABLES, SEED_WORKLOAD
from .timing import EMIT, PARK, WAIT, Engine


def percentile(values, q):
    """numpy.percentile with linear interpolation."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _stats(values):
    n = len(values)
    if not n:
        return 0.0, 0.0, 0.0
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / n) ** 0.5
    return mean, std, percentile(values, 50)


def simulate(params, num_prompts=512, max_concurrency=32, input_len=8192, output_len=1024, seed=0, warmup=True):
    """Closed-loop run (``max_concurrency`` clients, each sends its next request when one ends)."""
    now = [0.0]
    heap = []
    order = itertools.count()
    parked = {}

    def wake(token):
        gen = parked.pop(token)
        heapq.heappush(heap, (now[0], next(order), gen))

    engine = Engine(params, clock=lambda: now[0], wake=wake)
    records = {}
    sent = [0]

    def start(t):
        i = sent[0]
        sent[0] += 1
        gen = engine.request(input_len, output_len, random.Random(seed * 1_000_003 + i))
        records[gen] = {"start": t, "chunks": []}
        heapq.heappush(heap, (t, next(order), gen))

    def run_all():
        while heap:
            t, _order, gen = heapq.heappop(heap)
            now[0] = t
            while True:
                try:
                    kind, value = next(gen)
                except StopIteration:
                    done.append(records.pop(gen))
                    if sent[0] < limit[0]:
                        start(t)
                    break
                if kind == EMIT:
                    records[gen]["chunks"].append((t, value))
                elif kind == WAIT:
                    if value > t:
                        heapq.heappush(heap, (value, next(order), gen))
                        break
                elif kind == PARK:
                    parked[value] = gen
                    break

    done = []
    limit = [1]
    if warmup:  # vllm bench serve's initial single-prompt test run
        start(0.0)
        run_all()
        done.clear()
    t_begin = now[0]
    sent[0] = 0
    limit[0] = num_prompts
    for _i in range(min(max_concurrency, num_prompts)):
        start(t_begin)
    run_all()
    for rec in done:
        rec["start"] -= t_begin
        rec["chunks"] = [(t - t_begin, k) for t, k in rec["chunks"]]
    return metrics(done, input_len)


def metrics(done, input_len):
    """vllm bench serve's numbers from per-request chunk timelines."""
    ttfts, tpots, itls, e2els = [], [], [], []
    total_out = 0
    end = 0.0
    for rec in done:
        chunks = rec["chunks"]
        st = rec["start"]
        out = sum(k for _t, k in chunks)
        total_out += out
        # The role chunk and the first token's chunk leave together: two choices messages.
        times = [chunks[0][0]] + [t for t, _k in chunks]
        ttft = times[0] - st
        e2el = times[-1] - st
        ttfts.append(ttft)
        e2els.append(e2el)
        itls.extend(b - a for a, b in zip(times, times[1:]))
        if out > 1:
            tpots.append((e2el - ttft) / (out - 1))
        end = max(end, times[-1])
    duration = end
    result = {
        "completed": len(done),
        "duration": duration,
        "output_throughput": total_out / duration if duration else 0.0,
        "total_token_throughput": (total_out + input_len * len(done)) / duration if duration else 0.0,
    }
    for name, values in (("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)):
        mean, std, median = _stats(values)
        result["mean_%s_ms" % name] = mean * 1000
        result["median_%s_ms" % name] = median * 1000
        result["std_%s_ms" % name] = std * 1000
        result["p99_%s_ms" % name] = percentile(values, 99) * 1000
    return result


ROWS = (
    "output_throughput",
    "total_token_throughput",
    "mean_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "p99_itl_ms",
)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m llmfleet_emulator.simulate", description=__doc__.split("\n", maxsplit=1)[0]
    )
    parser.add_argument(
        "--preset",
        action="append",
        choices=sorted(PRESETS),
        help="preset to run (repeatable; default: the calibrated ones)",
    )
    parser.add_argument("--num-prompts", type=int, default=SEED_WORKLOAD["num_prompts"])
    parser.add_argument("--max-concurrency", type=int, default=SEED_WORKLOAD["max_concurrency"])
    parser.add_argument("--input-len", type=int, default=SEED_WORKLOAD["input_len"])
    parser.add_argument("--output-len", type=int, default=SEED_WORKLOAD["output_len"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = args.preset or [n for n in PRESETS if PRESETS[n].calibrated]
    for name in names:
        res = simulate(
            PRESETS[name], args.num_prompts, args.max_concurrency, args.input_len, args.output_len, args.seed
        )
        seed = SEED_TABLES.get(name, {})
        print("== %s (%s)" % (name, PRESETS[name].description))
        print("%-24s %12s %12s %8s" % ("metric", "emulator", "seed", "diff"))
        for row in ROWS:
            ref = seed.get(row)
            diff = "%+.1f%%" % (100.0 * (res[row] - ref) / ref) if ref else ""
            print("%-24s %12.1f %12s %8s" % (row, res[row], "" if ref is None else ref, diff))
        print("%-24s %12.1f" % ("duration_s", res["duration"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
