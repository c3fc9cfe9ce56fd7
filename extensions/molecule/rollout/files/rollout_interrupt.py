"""Run one rollout and act when a line of its output matches (test tool of the molecule scenario `rollout`,
verify_interrupt.yml; standard library only).

    rollout_interrupt.py --when REGEX --log FILE [--sigint] [--streams HOST:PORT:N:MAX_TOKENS] -- ansible-playbook ...

The playbook runs in its own process group (as in a terminal). When a line of its output matches REGEX (the first
time): --sigint sends SIGINT to the whole group, as Ctrl-C does; --streams starts N streamed chat completions of
MAX_TOKENS tokens through the router at HOST:PORT (requests longer than rollout_drain_timeout). The script waits for
the playbook and the streams and prints one JSON object: rc, matched (the line), matched_at / ended_at (unix s),
streams ([{ok, start, end, finish, chunks, error}]). Its own exit status is 0; the test asserts on the JSON.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time


def stream(host, port, max_tokens, out):
    rec = {"ok": False, "start": time.time(), "end": None, "finish": None, "chunks": 0, "error": ""}
    out.append(rec)
    body = {
        "model": "deepseek",
        "messages": [{"role": "user", "content": "write a long story"}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": True,
    }
    try:
        conn = http.client.HTTPConnection(host, port, timeout=300)
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        done = False
        for raw in resp:
            line = raw.strip()
            if not line.startswith(b"data: "):
                continue
            if line == b"data: [DONE]":
                done = True
                break
            rec["chunks"] += 1
            try:
                for choice in json.loads(line[6:]).get("choices") or []:
                    rec["finish"] = choice.get("finish_reason") or rec["finish"]
            except ValueError:
                pass
        rec["ok"] = resp.status == 200 and done and rec["finish"] is not None
        if not rec["ok"]:
            rec["error"] = "status %s, finish %s, [DONE] %s" % (resp.status, rec["finish"], done)
    except Exception as exc:  # a cut stream is what the test looks for
        rec["error"] = "%s: %s" % (type(exc).__name__, exc)
    rec["end"] = time.time()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--when", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--sigint", action="store_true")
    ap.add_argument("--streams", default="")
    ap.add_argument("argv", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
    pattern = re.compile(a.when)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    matched, matched_at, threads, streams = None, None, [], []
    with open(a.log, "wb") as log:
        for raw in proc.stdout:
            log.write(raw)
            log.flush()
            line = raw.decode("utf-8", "replace").rstrip()
            if matched is None and pattern.search(line):
                matched, matched_at = line, time.time()
                if a.sigint:
                    os.killpg(proc.pid, signal.SIGINT)
                if a.streams:
                    host, port, n, tokens = a.streams.split(":")
                    for _stream in range(int(n)):
                        t = threading.Thread(target=stream, args=(host, int(port), int(tokens), streams))
                        t.start()
                        threads.append(t)
                    time.sleep(0.5)  # the streams reach their servers before the drain
    rc = proc.wait()
    ended_at = time.time()
    for t in threads:
        t.join()
    json.dump(
        {"rc": rc, "matched": matched, "matched_at": matched_at, "ended_at": ended_at, "streams": streams},
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
