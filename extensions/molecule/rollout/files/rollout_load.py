"""Load through the router during a rollout (test tool of the molecule scenario `rollout`; standard library only).

    rollout_load.py run HOST PORT --rate R --stop-file F --out results.jsonl [--model M --max-tokens N]
                        [--stats-url http://ROUTER:8404/stats --servers-out servers.jsonl]
    rollout_load.py report results.jsonl --rollout-start T0 --rollout-end T1 [--servers servers.jsonl]
                           [--series-out series.json]

`run` starts one streamed chat completion every 1/R s (a fixed rate, open loop: a slow server does not slow
the sender) until the stop file exists, then waits for the running ones and writes one JSON line per request:
start (unix s), ttft (s to the first content token), ok, error. A request is ok when it answered 200 and its
stream ended with finish_reason and data: [DONE]. With --stats-url it also reads the router's stats page (CSV)
every --stats-interval s and writes each change of a server's status (UP, DRAIN, MAINT, DOWN) to
--servers-out: the times each server left service and came back are the rollout's batch marks.

`report` prints sent/ok/failed and p99 TTFT before, during and after the rollout, then one row per second of
the whole load (requests sent, completed ok, failed, TTFT p50/p99 of the requests sent in that second), and
the servers' out-of-service windows; exit 1 when a request failed. --series-out writes the same figures as
JSON for benchmarks/rollout_load_plot.py (the PNG). Seconds are counted from the rollout's start: second k
covers [T0 + k, T0 + k + 1), so the phase of a second is the phase of the requests sent in it.
"""

import argparse
import asyncio
import csv
import io
import json
import math
import os
import sys
import time
import urllib.request


async def one(host, port, body, timeout):
    rec = {"start": time.time(), "ok": False, "ttft": None, "error": ""}
    t0 = time.monotonic()
    data = json.dumps(body).encode()
    # HTTP/1.0 and Connection: close: the stream comes unchunked, one SSE line after the other.
    head = (
        "POST /v1/chat/completions HTTP/1.0\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\nConnection: close\r\n\r\n" % (host, port, len(data))
    ).encode()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(head + data)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        parts = status_line.split()
        status = int(parts[1]) if len(parts) > 1 else 0
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if line in (b"\r\n", b"\n", b""):
                break
        finish, done, text = None, False, []
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data: "):
                text.append(line)
                continue
            payload = line[6:]
            if payload == b"[DONE]":
                # The end of the stream; the connection may stay open (keep-alive through the router).
                done = True
                break
            try:
                event = json.loads(payload)
            except ValueError:
                continue
            for choice in event.get("choices") or []:
                if rec["ttft"] is None and (choice.get("delta") or {}).get("content"):
                    rec["ttft"] = time.monotonic() - t0
                finish = choice.get("finish_reason") or finish
        rec["ok"] = status == 200 and done and finish is not None
        if not rec["ok"]:
            rec["error"] = "status %d, finish %s, [DONE] %s %s" % (status, finish, done, b" ".join(text)[:200].decode())
    except Exception as exc:  # every failure a client would see counts
        rec["error"] = "%s: %s" % (type(exc).__name__, exc)
    finally:
        if writer is not None:
            writer.close()
    rec["end"] = time.time()
    return rec


def read_stats(url, backend, timeout=2.0):
    """{server: status} of the backend's servers from HAProxy's stats page as CSV (``<uri>;csv``)."""
    with urllib.request.urlopen(url.rstrip("/") + ";csv", timeout=timeout) as resp:
        text = resp.read().decode()
    # The header line starts with "# ".
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {
        r["svname"]: r["status"]
        for r in rows
        if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
    }


async def watch_servers(args, events, stop):
    """Append {t, server, status} to events each time a server's status changes (the first read: every server)."""
    loop = asyncio.get_running_loop()
    last = {}
    error_logged = False
    while not stop.is_set():
        try:
            now = await loop.run_in_executor(None, read_stats, args.stats_url, args.backend)
        except Exception as exc:  # the marks are context: a failed read must not stop the load
            if not error_logged:
                events.append(
                    {"t": time.time(), "server": "", "status": "", "error": "%s: %s" % (type(exc).__name__, exc)}
                )
                error_logged = True
            now = {}
        t = time.time()
        for server, status in sorted(now.items()):
            if last.get(server) != status:
                events.append({"t": t, "server": server, "status": status})
                last[server] = status
        try:
            await asyncio.wait_for(stop.wait(), args.stats_interval)
        except asyncio.TimeoutError:
            pass


async def run(args):
    body = {
        "model": args.model,
        "messages": [{"role": "user", "content": "rollout load"}],
        "max_tokens": args.max_tokens,
        "ignore_eos": True,
        "stream": True,
    }
    events, stop = [], asyncio.Event()
    watcher = asyncio.ensure_future(watch_servers(args, events, stop)) if args.stats_url else None
    tasks = []
    interval = 1.0 / args.rate
    next_at = time.monotonic()
    while not os.path.exists(args.stop_file):
        tasks.append(asyncio.ensure_future(one(args.host, args.port, body, args.timeout)))
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    records = await asyncio.gather(*tasks)
    stop.set()
    if watcher is not None:
        await watcher
    with open(args.out, "w") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    if args.servers_out:
        with open(args.servers_out, "w") as fh:
            for event in events:
                fh.write(json.dumps(event) + "\n")
    print(
        "sent %d, ok %d, failed %d" % (len(records), sum(r["ok"] for r in records), sum(not r["ok"] for r in records))
    )


# ---- aggregation (pure: the unit tests feed it hand-made records) ------------------------------------------------


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of the values that are not None; None when there are none."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return values[max(0, min(len(values) - 1, math.ceil(q / 100.0 * len(values)) - 1))]


def p99(values):
    value = percentile(values, 99)
    return float("nan") if value is None else value


def phase_of(t, t0, t1):
    return "before" if t < t0 else ("during" if t < t1 else "after")


def phases(records, t0, t1):
    """sent/ok/failed, p99 TTFT (ms, of the ok requests), span and ok/s before, during and after the rollout, and all.

    A request belongs to the phase in which it was sent."""
    groups = [
        ("before", [r for r in records if phase_of(r["start"], t0, t1) == "before"]),
        ("during", [r for r in records if phase_of(r["start"], t0, t1) == "during"]),
        ("after", [r for r in records if phase_of(r["start"], t0, t1) == "after"]),
        ("all", list(records)),
    ]
    out = []
    for name, rs in groups:
        span = (max(r["end"] for r in rs) - min(r["start"] for r in rs)) if rs else 0.0
        ok = sum(1 for r in rs if r["ok"])
        ttft = percentile([r["ttft"] for r in rs if r["ok"]], 99)
        out.append(
            {
                "phase": name,
                "sent": len(rs),
                "ok": ok,
                "failed": len(rs) - ok,
                "p99_ttft_ms": None if ttft is None else ttft * 1000,
                "seconds": span,
                "ok_per_s": ok / span if span else 0.0,
            }
        )
    return out


def per_second(records, t0, t1):
    """One row per second from the first request sent to the last one ended, every second present (0 when idle).

    Second k covers [t0 + k, t0 + k + 1). sent counts the requests sent in it; ok and failed the requests that
    ended in it (completions per second: the throughput a client sees); TTFT p50/p99 (ms) are of the ok
    requests sent in it (None when none)."""
    if not records:
        return []
    first = math.floor(min(r["start"] for r in records) - t0)
    last = math.floor(max(r.get("end", r["start"]) for r in records) - t0)
    rows = {
        k: {"t": k, "phase": phase_of(t0 + k, t0, t1), "sent": 0, "ok": 0, "failed": 0, "_ttft": []}
        for k in range(first, last + 1)
    }
    for r in records:
        sent = rows[math.floor(r["start"] - t0)]
        sent["sent"] += 1
        if r["ok"] and r.get("ttft") is not None:
            sent["_ttft"].append(r["ttft"])
        ended = rows[math.floor(r.get("end", r["start"]) - t0)]
        ended["ok" if r["ok"] else "failed"] += 1
    out = []
    for k in sorted(rows):
        row = rows[k]
        ttft = row.pop("_ttft")
        p50, p99_ = percentile(ttft, 50), percentile(ttft, 99)
        row["ttft_p50_ms"] = None if p50 is None else p50 * 1000
        row["ttft_p99_ms"] = None if p99_ is None else p99_ * 1000
        out.append(row)
    return out


def server_windows(events, t0):
    """Each server's time out of service (status not UP), in seconds from t0: [{server, out, back, status}].

    back is None when the server had not come back when the load stopped. status is the first status it left
    UP for (DRAIN when the rollout drained it, DOWN when its health checks failed first)."""
    state, windows = {}, []
    for e in sorted((e for e in events if e.get("server")), key=lambda e: e["t"]):
        up = e["status"].startswith("UP")
        open_ = state.get(e["server"])
        if not up and open_ is None:
            state[e["server"]] = {"server": e["server"], "out": e["t"] - t0, "back": None, "status": e["status"]}
            windows.append(state[e["server"]])
        elif up and open_ is not None:
            open_["back"] = e["t"] - t0
            state[e["server"]] = None
    return windows


def batches(windows):
    """The out-of-service windows that overlap merged: one per rollout batch, [{out, back, servers}]."""
    merged = []
    for w in sorted(windows, key=lambda w: w["out"]):
        back = w["back"] if w["back"] is not None else math.inf
        if merged and w["out"] <= merged[-1]["_back"]:
            merged[-1]["_back"] = max(merged[-1]["_back"], back)
            merged[-1]["servers"].append(w["server"])
        else:
            merged.append({"out": w["out"], "_back": back, "servers": [w["server"]]})
    return [
        {"out": m["out"], "back": None if m["_back"] == math.inf else m["_back"], "servers": m["servers"]}
        for m in merged
    ]


def series(records, t0, t1, events=()):
    """Everything the table and the plot show, as one JSON-able dict."""
    windows = server_windows(events, t0)
    return {
        "rollout_start": t0,
        "rollout_end": t1,
        "rollout_seconds": t1 - t0,
        "phases": phases(records, t0, t1),
        "per_second": per_second(records, t0, t1),
        "servers": windows,
        "batches": batches(windows),
        "stats_errors": [e["error"] for e in events if e.get("error")],
        "failures": [
            {"t": r["start"] - t0, "error": r["error"]}
            for r in sorted(records, key=lambda r: r["start"])
            if not r["ok"]
        ],
    }


def _ms(value):
    return "%.1f" % value if value is not None else "-"


def format_table(data):
    """The text table of a series() dict: phases, the per-second rows, the batches, the first failures."""
    lines = ["rollout %.1f s" % data["rollout_seconds"]]
    lines.append("%-7s %6s %6s %7s %13s %10s %8s" % ("phase", "sent", "ok", "failed", "p99 TTFT ms", "seconds", "ok/s"))
    for p in data["phases"]:
        lines.append(
            "%-7s %6d %6d %7d %13s %10.1f %8.2f"
            % (p["phase"], p["sent"], p["ok"], p["failed"], _ms(p["p99_ttft_ms"]), p["seconds"], p["ok_per_s"])
        )
    lines.append("")
    lines.append("throughput through the rollout, per second from its start (t+0): requests sent, completed ok,")
    lines.append("failed (by the second they ended), TTFT p50/p99 ms of the ok requests sent in that second")
    lines.append("%5s %-6s %4s %4s %6s %8s %8s" % ("t", "phase", "sent", "ok", "failed", "p50 ms", "p99 ms"))
    for row in data["per_second"]:
        lines.append(
            "t%+4d %-6s %4d %4d %6d %8s %8s  %s"
            % (
                row["t"],
                row["phase"],
                row["sent"],
                row["ok"],
                row["failed"],
                _ms(row["ttft_p50_ms"]),
                _ms(row["ttft_p99_ms"]),
                "#" * row["ok"] + "X" * row["failed"],
            )
        )
    if data["servers"]:
        lines.append("")
        lines.append("servers out of service (router status), s from the rollout's start")
        width = max(len(w["server"]) for w in data["servers"])
        for w in data["servers"]:
            back = "t%+.1f" % w["back"] if w["back"] is not None else "not back"
            lines.append("  %-*s %-6s t%+.1f -> %s" % (width, w["server"], w["status"], w["out"], back))
        for i, b in enumerate(data["batches"], 1):
            back = "t%+.1f" % b["back"] if b["back"] is not None else "not back"
            lines.append("  batch %d: t%+.1f -> %s  %s" % (i, b["out"], back, ", ".join(b["servers"])))
    for error in data["stats_errors"]:
        lines.append("router stats not read: %s" % error)
    for f in data["failures"][:10]:
        lines.append("FAILED at t%+.1f: %s" % (f["t"], f["error"]))
    return "\n".join(lines)


def read_jsonl(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def report(args):
    records = read_jsonl(args.results)
    events = read_jsonl(args.servers) if args.servers and os.path.exists(args.servers) else []
    data = series(records, args.rollout_start, args.rollout_end, events)
    if args.series_out:
        with open(args.series_out, "w") as fh:
            json.dump(data, fh, indent=1)
    print(format_table(data))
    return 1 if data["failures"] else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rollout_load.py")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("host")
    r.add_argument("port", type=int)
    r.add_argument("--rate", type=float, default=4.0)
    r.add_argument("--stop-file", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--model", default="deepseek")
    r.add_argument("--max-tokens", type=int, default=32)
    r.add_argument("--timeout", type=float, default=120.0)
    r.add_argument("--stats-url", default="", help="the router's stats page, e.g. http://ROUTER:8404/stats")
    r.add_argument("--backend", default="llmfleet_engines", help="the router's backend whose servers to watch")
    r.add_argument("--stats-interval", type=float, default=0.5)
    r.add_argument("--servers-out", default="")
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--rollout-start", type=float, required=True)
    p.add_argument("--rollout-end", type=float, required=True)
    p.add_argument("--servers", default="", help="the status changes `run --servers-out` wrote")
    p.add_argument("--series-out", default="", help="write the figures as JSON (benchmarks/rollout_load_plot.py)")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        if args.rate <= 0:
            parser.error("--rate must be above 0 requests a second (got %s)" % args.rate)
        if args.stats_interval <= 0:
            parser.error("--stats-interval must be above 0 s (got %s)" % args.stats_interval)
        asyncio.run(run(args))
        return 0
    if args.rollout_end < args.rollout_start:
        parser.error(
            "--rollout-end (%s) is before --rollout-start (%s): give the rollout's start, then its end (unix s)"
            % (args.rollout_end, args.rollout_start)
        )
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
