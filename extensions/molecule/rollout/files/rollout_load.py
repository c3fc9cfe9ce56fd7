"""Load through the router during a rollout (test tool of the molecule scenario `rollout`; standard library only).

    rollout_load.py run HOST PORT --rate R --stop-file F --out results.jsonl [--model M --max-tokens N]
    rollout_load.py report results.jsonl --rollout-start T0 --rollout-end T1

`run` starts one streamed chat completion every 1/R s (a fixed rate, open loop: a slow server does not slow
the sender) until the stop file exists, then waits for the running ones and writes one JSON line per request:
start (unix s), ttft (s to the first content token), ok, error. A request is ok when it answered 200 and its
stream ended with finish_reason and data: [DONE]. `report` prints sent/ok/failed and p99 TTFT before, during
and after the rollout, and the completions per second through it; exit 1 when a request failed.
"""

import argparse
import asyncio
import json
import math
import os
import sys
import time


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


async def run(args):
    body = {
        "model": args.model,
        "messages": [{"role": "user", "content": "rollout load"}],
        "max_tokens": args.max_tokens,
        "ignore_eos": True,
        "stream": True,
    }
    tasks = []
    interval = 1.0 / args.rate
    next_at = time.monotonic()
    while not os.path.exists(args.stop_file):
        tasks.append(asyncio.ensure_future(one(args.host, args.port, body, args.timeout)))
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    records = await asyncio.gather(*tasks)
    with open(args.out, "w") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    print(
        "sent %d, ok %d, failed %d" % (len(records), sum(r["ok"] for r in records), sum(not r["ok"] for r in records))
    )


def p99(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, math.ceil(0.99 * len(values)) - 1)]


def report(args):
    with open(args.results) as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    t0, t1 = args.rollout_start, args.rollout_end
    phases = [
        ("before", [r for r in records if r["start"] < t0]),
        ("during", [r for r in records if t0 <= r["start"] < t1]),
        ("after", [r for r in records if r["start"] >= t1]),
        ("all", records),
    ]
    print("%-7s %6s %6s %7s %13s %10s %8s" % ("phase", "sent", "ok", "failed", "p99 TTFT ms", "seconds", "ok/s"))
    for name, rs in phases:
        if rs:
            span = max(r["end"] for r in rs) - min(r["start"] for r in rs)
        else:
            span = 0.0
        ok = sum(r["ok"] for r in rs)
        print(
            "%-7s %6d %6d %7d %13.1f %10.1f %8.2f"
            % (
                name,
                len(rs),
                ok,
                len(rs) - ok,
                p99([r["ttft"] for r in rs if r["ok"]]) * 1000,
                span,
                ok / span if span else 0,
            )
        )
    print("\nthroughput through the rollout (per second from its start: requests started, completed ok, failed)")
    start = int(t0) - 2
    end = int(t1) + 3
    rows = []
    for sec in range(start, end):
        started = sum(1 for r in records if sec <= r["start"] < sec + 1)
        done_ok = sum(1 for r in records if r["ok"] and sec <= r["end"] < sec + 1)
        failed = sum(1 for r in records if not r["ok"] and sec <= r["end"] < sec + 1)
        rows.append("t%+4d  %3d %3d %3d  %s" % (sec - int(t0), started, done_ok, failed, "#" * done_ok))
    print("\n".join(rows))
    failures = [r for r in records if not r["ok"]]
    for r in failures[:10]:
        print("FAILED at t%+.1f: %s" % (r["start"] - t0, r["error"]))
    return 1 if failures else 0


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
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--rollout-start", type=float, required=True)
    p.add_argument("--rollout-end", type=float, required=True)
    args = parser.parse_args(argv)
    if args.cmd == "run":
        asyncio.run(run(args))
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
