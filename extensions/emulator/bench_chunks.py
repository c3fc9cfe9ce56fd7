"""How many streamed chunks per second the emulator sustains, per worker process.

Starts the emulator (``fast`` preset: no model time, every chunk as soon as the loop can send it)
as a subprocess with 1 and then 2 workers, drives it for ``--duration`` seconds with aiohttp
clients in separate processes (long ``ignore_eos`` streams, so per-request costs fade), and prints
for each worker count:

* chunks/s: content chunks the clients received per wall-clock second, and that per worker;
* server CPU: CPU seconds the emulator's processes used, and chunks per server CPU-second, which
  is what one worker sustains on a core of its own (the wall figure is capped by the clients and
  by other load when the machine has fewer cores than workers + clients).

Usage: PYTHONPATH=extensions/emulator python3 extensions/emulator/bench_chunks.py [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# the one starter of the emulator process (tests, benchmark scripts, this script)
from llmfleet_emulator.process import EmulatorProcess  # noqa: E402


def cpu_seconds(pid):
    """utime + stime of ``pid`` and its child processes (the workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as fh:
            pids += [int(p) for p in fh.read().split()]
    except OSError:
        pass
    total = 0.0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


async def _client(port, streams, duration, max_tokens, result):
    import aiohttp

    url = "http://127.0.0.1:%d/v1/chat/completions" % port
    payload = json.dumps(
        {
            "model": "bench",
            "messages": [{"role": "user", "content": "go"}],
            "stream": True,
            "max_tokens": max_tokens,
            "ignore_eos": True,
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    events = 0
    completed = 0
    stop_at = time.monotonic() + duration

    async def one(session):
        nonlocal events, completed
        while time.monotonic() < stop_at:
            async with session.post(url, data=payload, headers=headers) as resp:
                async for data in resp.content.iter_any():
                    events += data.count(b"\n\n")
                    if time.monotonic() >= stop_at:
                        return
            completed += 1

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(one(session) for _i in range(streams)))
    # each completed stream had a role chunk and [DONE] besides its content chunks
    result.put((events - 2 * completed, completed, time.process_time()))


def client_process(port, streams, duration, max_tokens, result):
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(_client(port, streams, duration, max_tokens, result))


def measure(workers, duration, streams, clients, max_tokens, python, preset="fast", time_scale=1.0):
    env = dict(
        os.environ,
        EMULATOR_PRESET=preset,
        EMULATOR_TIME_SCALE=str(time_scale),
        EMULATOR_LOAD_SECONDS="0",
        EMULATOR_WORKERS=str(workers),
    )
    emu = EmulatorProcess(["vllm", "serve", "--model", "bench"], env=env, python=python).start()
    port, proc = emu.port, emu.proc
    try:
        time.sleep(0.3)  # let every worker bind
        result = multiprocessing.Queue()
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.monotonic()
        procs = [
            multiprocessing.Process(
                target=client_process, args=(port, max(1, streams // clients), duration, max_tokens, result)
            )
            for _i in range(clients)
        ]
        for p in procs:
            p.start()
        outs = [result.get(timeout=duration + 60) for _i in procs]
        wall = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        for p in procs:
            p.join()
    finally:
        emu.stop()
    chunks = sum(o[0] for o in outs)
    return {
        "workers": workers,
        "chunks": chunks,
        "requests": sum(o[1] for o in outs),
        "wall_s": wall,
        "chunks_per_s": chunks / wall,
        "chunks_per_s_per_worker": chunks / wall / workers,
        "server_cpu_s": cpu,
        "chunks_per_server_cpu_s": chunks / cpu if cpu else float("nan"),
        "client_cpu_s": sum(o[2] for o in outs),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (comma-separated)")
    parser.add_argument("--streams", type=int, default=64, help="concurrent streams in all")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--max-tokens", type=int, default=2000, help="tokens (chunks) per stream")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the emulator")
    parser.add_argument(
        "--preset",
        default="fast",
        help="timing preset (default fast; a timed one with a large --time-scale measures the timer path)",
    )
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of the table")
    args = parser.parse_args(argv)
    print(
        "machine: %d CPU cores; %d client processes, %d streams, %.0f s each; preset %s, time scale %g"
        % (os.cpu_count(), args.clients, args.streams, args.duration, args.preset, args.time_scale)
    )
    if not args.json:
        print(
            "%8s %12s %18s %14s %22s %14s"
            % ("workers", "chunks/s", "chunks/s/worker", "server CPU s", "chunks/server-CPU-s", "client CPU s")
        )
    for n in [int(w) for w in args.workers.split(",")]:
        r = measure(
            n, args.duration, args.streams, args.clients, args.max_tokens, args.python, args.preset, args.time_scale
        )
        if args.json:
            print(json.dumps(r))
        else:
            print(
                "%8d %12.0f %18.0f %14.1f %22.0f %14.1f"
                % (
                    n,
                    r["chunks_per_s"],
                    r["chunks_per_s_per_worker"],
                    r["server_cpu_s"],
                    r["chunks_per_server_cpu_s"],
                    r["client_cpu_s"],
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
