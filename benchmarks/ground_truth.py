"""Does the client measure what the server did? And do the presets reproduce the seed's table?

accuracy (default): starts the emulator with a trace file (it records, per request, the monotonic time
    just before each chunk went to the socket), runs the client at concurrency 32, and compares the
    client's TTFT / TPOT / ITL / E2EL with the server-side truth of the same requests (matched by
    x-request-id). Pass: |median(client) - median(truth)| < max(1 ms, 1 % of the truth).
seed: runs the seed's workload (8192 in / 1024 out, 512 prompts, 32 concurrent) against each
    calibrated preset with a time scale, scales our figures back to real time and prints them beside
    the seed's table and the emulator's own model (its virtual-clock simulation).

Run from the repository root with the project's venv:
    .venv/bin/python benchmarks/ground_truth.py accuracy
    .venv/bin/python benchmarks/ground_truth.py seed --time-scale 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "extensions" / "bench"))
sys.path.insert(0, str(ROOT / "extensions" / "emulator"))

from llmfleet_bench._collection import module_utils  # noqa: E402
from llmfleet_bench.emulator import Emulator  # noqa: E402

client = module_utils("_bench_client")
report = module_utils("_bench_report")

SEED_PRESETS = ("b200-sglang-eagle", "h100-sglang-eagle", "b200-vllm")


def load_trace(path):
    rows = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row.get("request_id"):
                rows[row["request_id"]] = row
    return rows


def series(result, truth, prefix):
    """Per-metric lists (seconds): the client's values and the truth for the same requests.

    The truth uses the server's send times on the clock the client reads (CLOCK_MONOTONIC: the
    client's perf_counter and the emulator's time.monotonic on one host), from the client's start,
    which is where every definition starts (just before sending). So TTFT truth = first chunk sent -
    client start, E2EL truth = last chunk sent - client start, ITL truth = gaps between chunks sent,
    TPOT truth = (last - first chunk sent) / (completion_tokens - 1). The error is what the client adds:
    delivery and reading. ``server_ttft`` (handler entry -> first chunk) is kept for context: the
    difference to TTFT is the time the request took to reach the server's handler.
    """
    out = {name: ([], []) for name in ("ttft", "tpot", "itl", "e2el", "server_ttft")}
    base = result["llmfleet"]["start_time_base"]
    missing = 0
    for i, ttft in enumerate(result["ttfts"]):
        if result["errors"][i]:
            continue
        row = truth.get("%s%d" % (prefix, i))
        if row is None or row.get("status") != 200:
            missing += 1
            continue
        chunks = row["chunk_monotonic"]
        start = base + result["start_times"][i]
        out["ttft"][0].append(ttft)
        out["ttft"][1].append(chunks[0] - start)
        out["server_ttft"][0].append(ttft)
        out["server_ttft"][1].append(chunks[0] - row["arrival_monotonic"])
        latency = result["latencies"][i]
        out["e2el"][0].append(latency)
        out["e2el"][1].append(chunks[-1] - start)
        n_out = result["output_lens"][i]
        if n_out > 1 and row["completion_tokens"] > 1:
            out["tpot"][0].append((latency - ttft) / (n_out - 1))
            out["tpot"][1].append((chunks[-1] - chunks[0]) / (row["completion_tokens"] - 1))
        out["itl"][0].extend(result["itls"][i])
        out["itl"][1].extend(b - a for a, b in zip(chunks, chunks[1:]))
    return out, missing


def accuracy_table(result, truth, prefix):
    data, missing = series(result, truth, prefix)
    header = ("metric", "client med ms", "truth med ms", "error ms", "error %", "paired ms", "verdict")
    lines = ["%-11s %14s %14s %10s %8s %12s  %s" % header, "-" * 83]
    verdicts = {}
    for name in ("ttft", "tpot", "itl", "e2el", "server_ttft"):
        ours, real = data[name]
        if not ours:
            continue
        c_med, t_med = statistics.median(ours) * 1000, statistics.median(real) * 1000
        err = c_med - t_med
        pct = 100.0 * err / t_med if t_med else 0.0
        paired = ""
        if name != "itl" or len(ours) == len(real):
            paired = "%.3f" % (statistics.median(a - b for a, b in zip(ours, real)) * 1000)
        limit = max(1.0, 0.01 * abs(t_med))
        ok = abs(err) < limit
        if name in ("ttft", "tpot", "itl"):  # the criterion covers these; the others are context
            verdicts[name] = ok
        if name == "server_ttft" and name not in verdicts:
            verdict = "info"
        else:
            verdict = "pass" if ok else "FAIL"
        lines.append(
            "%-11s %14.3f %14.3f %10.3f %7.2f%% %12s  %s (limit %.2f ms)"
            % (name.upper(), c_med, t_med, err, pct, paired, verdict, limit)
        )
    lines.append(
        "truth: the server's chunk send times on the client's clock (CLOCK_MONOTONIC), from the client's "
        "start; SERVER_TTFT: the server's own view, handler entry -> first chunk"
    )
    lines.append(
        "requests compared: %d%s; ITL samples: %d client / %d server"
        % (
            len(data["ttft"][0]),
            " (%d without a trace line)" % missing if missing else "",
            len(data["itl"][0]),
            len(data["itl"][1]),
        )
    )
    return lines, verdicts


def run_accuracy(args):
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.jsonl")
        env = {
            "EMULATOR_PRESET": args.preset,
            "EMULATOR_TIME_SCALE": str(args.time_scale),
            "EMULATOR_TRACE_FILE": trace,
            "EMULATOR_WORKERS": str(args.emulator_workers),
        }
        prefix = "gt-%d-" % os.getpid()
        with Emulator(env=env, log_path=os.path.join(tmp, "emulator.log")) as emu:
            cfg = {
                "base_url": emu.base_url,
                "served_model_name": "deepseek",
                "model_id": "deepseek-ai/DeepSeek-V4-Flash",
                "random_input_len": args.input_len,
                "random_output_len": args.output_len,
                "num_prompts": args.num_prompts,
                "max_concurrency": args.concurrency,
                "num_warmups": 1,
                "save_detailed": True,
                "request_id_prefix": prefix,
                "workers": args.workers,
            }
            started = time.time()
            result = client.run_benchmark(cfg)
            wall = time.time() - started
        truth = load_trace(trace)
    print(
        "Ground truth: preset %s, time scale %g, %d prompts %d in / %d out, concurrency %d, client workers %d"
        % (
            args.preset,
            args.time_scale,
            args.num_prompts,
            args.input_len,
            args.output_len,
            args.concurrency,
            args.workers,
        )
    )
    lines, verdicts = accuracy_table(result, truth, prefix)
    print("\n".join(lines))
    check = result["llmfleet"]["client"]
    print(
        "client self-check: CPU %.0f%%, loop lag p99 %.2f ms, max %.2f ms, flagged: %s; run took %.1f s"
        % (check["cpu_percent_max"], check["loop_lag_p99_ms"], check["loop_lag_max_ms"], check["flagged"], wall)
    )
    ok = all(verdicts.values())
    print("RESULT: %s" % ("pass" if ok else "FAIL"))
    return 0 if ok else 1


SEED_ROWS = (
    ("output_throughput", "Output token throughput (tok/s)", "rate"),
    ("total_token_throughput", "Total token throughput (tok/s)", "rate"),
    ("mean_ttft_ms", "Mean TTFT (ms)", "time"),
    ("p99_ttft_ms", "P99 TTFT (ms)", "time"),
    ("mean_tpot_ms", "Mean TPOT (ms)", "time"),
    ("p99_tpot_ms", "P99 TPOT (ms)", "time"),
    ("mean_itl_ms", "Mean ITL (ms)", "time"),
    ("p99_itl_ms", "P99 ITL (ms)", "time"),
)


def scaled(result, key, kind, scale):
    value = result.get(key)
    if value is None:
        return None
    return value * scale if kind == "time" else value / scale


def _p99(values):
    ordered = sorted(values)
    pos = (len(ordered) - 1) * 0.99
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def run_seed(args):
    from llmfleet_emulator import presets, simulate

    status = 0
    for name in args.presets:
        with tempfile.TemporaryDirectory() as tmp:
            trace = os.path.join(tmp, "trace.jsonl")
            env = {
                "EMULATOR_PRESET": name,
                "EMULATOR_TIME_SCALE": str(args.time_scale),
                "EMULATOR_WORKERS": str(args.emulator_workers),
                "EMULATOR_TRACE_FILE": trace,
            }
            prefix = "seed-%d-" % os.getpid()
            with Emulator(env=env, log_path=os.path.join(tmp, "emulator.log")) as emu:
                cfg = {
                    "base_url": emu.base_url,
                    "served_model_name": "deepseek",
                    "model_id": "deepseek-ai/DeepSeek-V4-Flash",
                    "random_input_len": args.input_len,
                    "random_output_len": args.output_len,
                    "num_prompts": args.num_prompts,
                    "max_concurrency": args.concurrency,
                    "num_warmups": 1,
                    "workers": args.workers,
                    "save_detailed": True,
                    "request_id_prefix": prefix,
                }
                started = time.time()
                result = client.run_benchmark(cfg)
                wall = time.time() - started
            truth = load_trace(trace)
        model = simulate.simulate(
            presets.PRESETS[name], args.num_prompts, args.concurrency, args.input_len, args.output_len
        )
        seed = presets.SEED_TABLES.get(name, {})
        print("\n== %s (%s) ==" % (name, presets.PRESETS[name].description))
        print(
            "time scale %g: the run took %.1f s of wall time (%.0f s at real speed; dataset %.1f s)"
            % (args.time_scale, wall, result["duration"] * args.time_scale, result["llmfleet"]["dataset"]["build_s"])
        )
        print("%-34s %12s %14s %14s %9s" % ("metric", "seed", "emulator model", "our client", "vs seed"))
        print("-" * 87)
        for key, label, kind in SEED_ROWS:
            ours = scaled(result, key, kind, args.time_scale)
            want = seed.get(key)
            diff = "%+.1f%%" % (100.0 * (ours - want) / want) if want else ""
            print("%-34s %12s %14.1f %14.1f %9s" % (label, "%.1f" % want if want else "-", model[key], ours, diff))
        check = result["llmfleet"]["client"]
        print(
            "completed %d, failed %d, valid %s; client CPU %.0f%%, loop lag p99 %.2f ms, flagged %s"
            % (
                result["completed"],
                result["failed"],
                result["llmfleet"]["valid"],
                check["cpu_percent_max"],
                check["loop_lag_p99_ms"],
                check["flagged"],
            )
        )
        # where a figure differs from the model: did the client mis-measure, or did the server send late?
        data = series(result, truth, prefix)[0]
        print("client vs the server's own send times (wall ms at time scale %g):" % args.time_scale)
        for metric in ("ttft", "tpot", "itl"):
            ours, real = data[metric]
            print(
                "  %-5s median %.3f vs %.3f, p99 %.3f vs %.3f, mean %.3f vs %.3f"
                % (
                    metric.upper(),
                    statistics.median(ours) * 1e3,
                    statistics.median(real) * 1e3,
                    _p99(ours) * 1e3,
                    _p99(real) * 1e3,
                    statistics.fmean(ours) * 1e3,
                    statistics.fmean(real) * 1e3,
                )
            )
        if not result["llmfleet"]["valid"] or result["failed"]:
            status = 1
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="mode")
    acc = sub.add_parser("accuracy", help="client vs the server's trace (default)")
    acc.add_argument("--preset", default="b200-sglang-eagle")
    acc.add_argument("--time-scale", type=float, default=1.0)
    acc.add_argument("--num-prompts", type=int, default=128)
    acc.add_argument("--input-len", type=int, default=2048)
    acc.add_argument("--output-len", type=int, default=256)
    acc.add_argument("--concurrency", type=int, default=32)
    acc.add_argument("--workers", type=int, default=1, help="client processes")
    acc.add_argument("--emulator-workers", type=int, default=1)
    seed = sub.add_parser("seed", help="the seed's workload against each calibrated preset")
    seed.add_argument("--presets", nargs="+", default=list(SEED_PRESETS))
    seed.add_argument("--time-scale", type=float, default=5.0)
    seed.add_argument("--num-prompts", type=int, default=512)
    seed.add_argument("--input-len", type=int, default=8192)
    seed.add_argument("--output-len", type=int, default=1024)
    seed.add_argument("--concurrency", type=int, default=32)
    seed.add_argument("--workers", type=int, default=1, help="client processes")
    seed.add_argument("--emulator-workers", type=int, default=1)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("accuracy", "seed", "-h", "--help"):
        argv = ["accuracy"] + argv
    args = parser.parse_args(argv)
    return run_seed(args) if args.mode == "seed" else run_accuracy(args)


if __name__ == "__main__":
    sys.exit(main())
