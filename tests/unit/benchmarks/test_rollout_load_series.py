"""The rollout scenario's load figures (extensions/molecule/rollout/files/rollout_load.py): the per-second series,
the phases split by the rollout's marks, the router servers' out-of-service windows (the batches), the router
stats reader, and the PNG of benchmarks/rollout_load_plot.py. Hand-made records, no Docker."""

import importlib.util
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers.paths import ROOT

LOAD = ROOT / "extensions" / "molecule" / "rollout" / "files" / "rollout_load.py"
PLOT = ROOT / "benchmarks" / "rollout_load_plot.py"


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rl = load_module(LOAD, "rollout_load_under_test")

T0, T1 = 1000.0, 1010.0


def req(start, dur=0.5, ttft=0.1, ok=True, error=""):
    return {
        "start": start,
        "end": start + dur,
        "ttft": ttft if ok else None,
        "ok": ok,
        "error": error or ("" if ok else "boom"),
    }


def records():
    return [
        req(997.2, ttft=0.05),  # before
        req(999.8, dur=0.6, ttft=0.04),  # sent before the rollout, ends during it: counted before, completes in t+0
        req(1001.1, ttft=0.1),
        req(1001.4, ttft=0.2),
        req(1001.7, ttft=0.3),
        req(1003.5, dur=0.7, ok=False, error="ConnectionResetError: reset"),  # ends in t+4
        # nothing sent or ended in t+5 .. t+7
        req(1008.2, ttft=2.0),
        req(1010.3, ttft=0.06),  # after
    ]


def rows_by_t(rows):
    return {r["t"]: r for r in rows}


def test_every_second_from_first_send_to_last_end_is_a_row_and_idle_seconds_are_zero():
    rows = rl.per_second(records(), T0, T1)
    assert [r["t"] for r in rows] == list(range(-3, 11))
    by_t = rows_by_t(rows)
    for t in (5, 6, 7):
        assert by_t[t]["sent"] == by_t[t]["ok"] == by_t[t]["failed"] == 0
        assert by_t[t]["ttft_p50_ms"] is None and by_t[t]["ttft_p99_ms"] is None
    # Every request counted once as sent and once as ended.
    assert sum(r["sent"] for r in rows) == 8
    assert sum(r["ok"] + r["failed"] for r in rows) == 8


def test_a_second_with_a_failure_shows_it_where_the_request_ended():
    by_t = rows_by_t(rl.per_second(records(), T0, T1))
    assert by_t[4]["failed"] == 1 and by_t[4]["ok"] == 0
    assert by_t[3]["sent"] == 1 and by_t[3]["failed"] == 0
    assert sum(r["failed"] for r in by_t.values()) == 1
    # The failed request has no TTFT: the second it was sent in has none either.
    assert by_t[3]["ttft_p99_ms"] is None


def test_ttft_per_second_is_of_the_ok_requests_sent_in_that_second():
    by_t = rows_by_t(rl.per_second(records(), T0, T1))
    assert by_t[1]["sent"] == 3
    assert by_t[1]["ttft_p50_ms"] == pytest.approx(200.0)
    assert by_t[1]["ttft_p99_ms"] == pytest.approx(300.0)
    assert by_t[8]["ttft_p99_ms"] == pytest.approx(2000.0)
    # Completions are counted when they end: the 999.8 request (0.6 s) completes in t+0.
    assert by_t[-1]["sent"] == 1 and by_t[-1]["ok"] == 0
    assert by_t[0]["ok"] == 1


def test_seconds_and_requests_are_split_into_phases_by_the_rollout_marks():
    by_t = rows_by_t(rl.per_second(records(), T0, T1))
    assert {t: by_t[t]["phase"] for t in (-3, -1, 0, 9, 10)} == {
        -3: "before",
        -1: "before",
        0: "during",
        9: "during",
        10: "after",
    }
    phases = {p["phase"]: p for p in rl.phases(records(), T0, T1)}
    assert (phases["before"]["sent"], phases["before"]["ok"], phases["before"]["failed"]) == (2, 2, 0)
    assert (phases["during"]["sent"], phases["during"]["ok"], phases["during"]["failed"]) == (5, 4, 1)
    assert (phases["after"]["sent"], phases["after"]["ok"], phases["after"]["failed"]) == (1, 1, 0)
    assert phases["all"]["sent"] == 8 and phases["all"]["failed"] == 1
    # p99 TTFT of the ok requests only, per phase: before it is the slower of 50 and 40 ms.
    assert phases["before"]["p99_ttft_ms"] == pytest.approx(50.0)
    assert phases["during"]["p99_ttft_ms"] == pytest.approx(2000.0)


EVENTS = [
    {"t": 998.0, "server": "b200_0", "status": "UP"},
    {"t": 998.0, "server": "b200_1", "status": "UP"},
    {"t": 998.0, "server": "h100_0", "status": "UP"},
    {"t": 1001.0, "server": "b200_0", "status": "DRAIN"},
    {"t": 1001.5, "server": "b200_1", "status": "DRAIN"},
    {"t": 1002.0, "server": "b200_0", "status": "DOWN"},  # still out: the same window
    {"t": 1004.0, "server": "b200_0", "status": "UP"},
    {"t": 1004.5, "server": "b200_1", "status": "UP 1/2"},  # rising: back in service
    {"t": 1006.0, "server": "h100_0", "status": "DRAIN"},
    {"t": 1000.0, "server": "", "status": "", "error": "URLError: refused"},
]


def test_server_windows_and_batches_from_the_router_status_changes():
    windows = rl.server_windows(EVENTS, T0)
    assert [(w["server"], w["status"], w["out"], w["back"]) for w in windows] == [
        ("b200_0", "DRAIN", 1.0, 4.0),
        ("b200_1", "DRAIN", 1.5, 4.5),
        ("h100_0", "DRAIN", 6.0, None),  # not back when the load stopped
    ]
    assert rl.batches(windows) == [
        {"out": 1.0, "back": 4.5, "servers": ["b200_0", "b200_1"]},
        {"out": 6.0, "back": None, "servers": ["h100_0"]},
    ]
    data = rl.series(records(), T0, T1, EVENTS)
    assert data["stats_errors"] == ["URLError: refused"]
    assert data["failures"] == [{"t": pytest.approx(3.5), "error": "ConnectionResetError: reset"}]


def write_jsonl(path, items):
    path.write_text("".join(json.dumps(i) + "\n" for i in items))


def test_report_writes_the_series_and_fails_on_a_failed_request(tmp_path, capsys):
    write_jsonl(tmp_path / "load.jsonl", records())
    write_jsonl(tmp_path / "servers.jsonl", EVENTS)
    argv = [
        "report",
        str(tmp_path / "load.jsonl"),
        "--rollout-start",
        str(T0),
        "--rollout-end",
        str(T1),
        "--servers",
        str(tmp_path / "servers.jsonl"),
        "--series-out",
        str(tmp_path / "series.json"),
    ]
    assert rl.main(argv) == 1
    out = capsys.readouterr().out
    assert "FAILED at t+3.5: ConnectionResetError: reset" in out
    assert "batch 1: t+1.0 -> t+4.5  b200_0, b200_1" in out
    data = json.loads((tmp_path / "series.json").read_text())
    assert rows_by_t(data["per_second"])[4]["failed"] == 1
    assert data["rollout_seconds"] == pytest.approx(10.0)


def test_report_without_failures_passes_and_prints_the_line_the_scenario_asserts(tmp_path, capsys):
    write_jsonl(tmp_path / "load.jsonl", [r for r in records() if r["ok"]])
    argv = ["report", str(tmp_path / "load.jsonl"), "--rollout-start", str(T0), "--rollout-end", str(T1)]
    assert rl.main(argv) == 0
    out = capsys.readouterr().out
    # extensions/molecule/rollout/verify.yml checks this line: requests sent during the rollout, 0 failed.
    assert re.search(r"\nduring\s+[1-9]\d*\s+\d+\s+0\s", out), out


def test_report_refuses_an_end_before_the_start(tmp_path, capsys):
    write_jsonl(tmp_path / "load.jsonl", records())
    with pytest.raises(SystemExit) as exc:
        rl.main(["report", str(tmp_path / "load.jsonl"), "--rollout-start", "1010", "--rollout-end", "1000"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--rollout-end (1000.0) is before --rollout-start (1010.0)" in err


class _Router(BaseHTTPRequestHandler):
    """The router double: a streamed chat completion on POST, HAProxy's stats CSV on GET (a server drained on
    the 3rd and later reads, back UP from the 6th)."""

    reads = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).reads += 1
        n = type(self).reads
        status = "DRAIN" if 3 <= n < 6 else "UP"
        body = (
            "# pxname,svname,qcur,status,\n"
            "llmfleet,FRONTEND,,OPEN,\n"
            "llmfleet_engines,b200_0,0,%s,\n"
            "llmfleet_engines,h100_0,0,UP,\n"
            "llmfleet_engines,BACKEND,0,UP,\n"
            "other,b200_0,0,DOWN,\n" % status
        )
        assert self.path == "/stats;csv"
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for event in (
            {"choices": [{"delta": {"content": "hi"}, "finish_reason": None}]},
            {"choices": [{"delta": {}, "finish_reason": "length"}]},
        ):
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")


def test_run_records_requests_and_the_router_servers_status_changes(tmp_path):
    _Router.reads = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Router)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    stop = tmp_path / "stop"
    threading.Timer(1.5, stop.touch).start()
    try:
        assert (
            rl.main(
                [
                    "run",
                    "127.0.0.1",
                    str(port),
                    "--rate",
                    "10",
                    "--stop-file",
                    str(stop),
                    "--out",
                    str(tmp_path / "load.jsonl"),
                    "--timeout",
                    "5",
                    "--stats-url",
                    "http://127.0.0.1:%d/stats" % port,
                    "--stats-interval",
                    "0.1",
                    "--servers-out",
                    str(tmp_path / "servers.jsonl"),
                ]
            )
            == 0
        )
    finally:
        server.shutdown()
    recs = rl.read_jsonl(tmp_path / "load.jsonl")
    assert len(recs) >= 5 and all(r["ok"] for r in recs), recs[:3]
    assert all(r["ttft"] is not None for r in recs)
    events = rl.read_jsonl(tmp_path / "servers.jsonl")
    # Only the backend's servers, and only changes: b200_0 UP, DRAIN, UP; h100_0 UP once.
    assert [(e["server"], e["status"]) for e in events] == [
        ("b200_0", "UP"),
        ("h100_0", "UP"),
        ("b200_0", "DRAIN"),
        ("b200_0", "UP"),
    ]
    assert [w["server"] for w in rl.server_windows(events, events[0]["t"])] == ["b200_0"]


def _series_file(tmp_path):
    path = tmp_path / "series.json"
    path.write_text(json.dumps(rl.series(records(), T0, T1, EVENTS)))
    return path


def test_plot_script_refuses_a_file_that_is_not_a_series(tmp_path, capsys):
    plot = load_module(PLOT, "rollout_load_plot_under_test")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"per_second": []}))
    with pytest.raises(SystemExit) as exc:
        plot.main([str(bad), "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "lacks rollout_seconds, phases" in err and "rollout_load.py report --series-out" in err
    assert not (tmp_path / "x.png").exists()


def test_plot_script_writes_a_png_and_prints_the_table(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (requirements-dev.txt pins it)")
    plot = load_module(PLOT, "rollout_load_plot_under_test")
    out = tmp_path / "load.png"
    assert plot.main([str(_series_file(tmp_path)), "--out", str(out), "--title", "test"]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # axes, bars and text, not an empty canvas
    printed = capsys.readouterr().out
    assert re.search(r"\nduring\s+5\s+4\s+1\s", printed), printed
    assert "plot: %s" % out in printed
