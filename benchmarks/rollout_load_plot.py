"""Throughput and TTFT per second through a rolling redeploy: a PNG and the table (issue 12, "proof under load").

Reads the figures the molecule scenario `rollout` writes (``rollout_load.py report --series-out``: the load
client's requests binned per second from the rollout's start, the phases, and the router's out-of-service
windows per server), prints the table and draws:

* top: completions per second (ok, stacked with failed in red) and requests sent per second; TTFT p99 (and
  p50) of the requests sent in each second on the right axis; the rollout's window shaded;
* bottom: each router server's time out of service (drained, restarting), one row per server: the batches.

    .venv/bin/python benchmarks/rollout_load_plot.py load-1.series.json --out load-1.png [--title TEXT]

matplotlib is a development dependency (requirements-dev.txt). The scenario runs this script after each
load when matplotlib is importable; the record of a run lives in benchmarks/results/rollout/.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD_CLIENT = ROOT / "extensions" / "molecule" / "rollout" / "files" / "rollout_load.py"


def load_client():
    """The scenario's load client as a module: its format_table prints the same table the scenario shows."""
    spec = importlib.util.spec_from_file_location("rollout_load", LOAD_CLIENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plot(data, out, title=""):
    import matplotlib

    matplotlib.use("Agg")  # no display on a CI runner
    import matplotlib.pyplot as plt

    rows = data["per_second"]
    t = [r["t"] for r in rows]
    ok = [r["ok"] for r in rows]
    failed = [r["failed"] for r in rows]
    sent = [r["sent"] for r in rows]
    p99 = [r["ttft_p99_ms"] if r["ttft_p99_ms"] is not None else float("nan") for r in rows]
    p50 = [r["ttft_p50_ms"] if r["ttft_p50_ms"] is not None else float("nan") for r in rows]
    servers = data.get("servers") or []

    fig, (ax, gantt) = plt.subplots(
        2,
        1,
        figsize=(12, 6.5 if servers else 5.5),
        sharex=True,
        gridspec_kw={"height_ratios": [4, 1.2 if servers else 0.3]},
    )
    t0, t1 = 0.0, data["rollout_seconds"]
    for a in (ax, gantt):
        a.axvspan(t0, t1, color="tab:blue", alpha=0.08, lw=0)
        a.axvline(t0, color="tab:blue", lw=0.8, ls=":")
        a.axvline(t1, color="tab:blue", lw=0.8, ls=":")

    # Bars sit on [k, k + 1): the second they count.
    ax.bar(t, ok, width=1.0, align="edge", color="tab:green", alpha=0.75, label="completed ok /s")
    ax.bar(t, failed, width=1.0, align="edge", bottom=ok, color="tab:red", label="failed /s")
    ax.step(t, sent, where="post", color="0.3", lw=0.9, label="sent /s")
    ax.set_ylabel("requests per second")
    ax.set_ylim(0, max(max(ok + sent + [1]) * 1.6, 1))
    total_failed = sum(failed)
    ax.text(
        0.005,
        0.97,
        "failed: %d of %d sent" % (total_failed, sum(sent)),
        transform=ax.transAxes,
        va="top",
        color="tab:red" if total_failed else "tab:green",
        fontsize=9,
        fontweight="bold",
    )

    lat = ax.twinx()
    mid = [x + 0.5 for x in t]
    lat.plot(mid, p99, color="tab:purple", lw=1.3, marker=".", ms=3, label="TTFT p99 (ms)")
    lat.plot(mid, p50, color="tab:purple", lw=0.8, ls="--", alpha=0.6, label="TTFT p50 (ms)")
    lat.set_ylabel("TTFT of requests sent that second (ms)")
    lat.set_ylim(bottom=0)

    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = lat.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="upper right", fontsize=8, ncol=3)

    phases = {p["phase"]: p for p in data["phases"]}

    def fmt(p):
        v = p.get("p99_ttft_ms")
        return "%s ms" % ("%.0f" % v if v is not None else "-")

    ax.set_title(
        (title + "\n" if title else "")
        + "rollout %.0f s (shaded); p99 TTFT before %s, during %s; sent %d, ok %d, failed %d"
        % (
            data["rollout_seconds"],
            fmt(phases["before"]),
            fmt(phases["during"]),
            phases["all"]["sent"],
            phases["all"]["ok"],
            phases["all"]["failed"],
        ),
        fontsize=10,
    )

    if servers:
        names = sorted({w["server"] for w in servers})
        end = t[-1] + 1 if t else t1
        for w in servers:
            y = names.index(w["server"])
            back = w["back"] if w["back"] is not None else end
            color = "tab:orange" if w["status"].startswith(("DRAIN", "MAINT")) else "tab:red"
            gantt.barh(y, back - w["out"], left=w["out"], height=0.6, color=color)
        gantt.set_yticks(range(len(names)))
        gantt.set_yticklabels(names, fontsize=7)
        gantt.set_ylim(-0.6, len(names) - 0.4)
        gantt.set_ylabel("out of\nservice", fontsize=8)
    else:
        gantt.set_yticks([])
    gantt.set_xlabel("seconds from the rollout's start")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rollout_load_plot.py", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("series", help="the JSON file rollout_load.py report --series-out wrote")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    try:
        with open(args.series) as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        parser.error(
            "cannot read the series file %s (%s): give the JSON that rollout_load.py report "
            "--series-out wrote" % (args.series, exc)
        )
    missing = [k for k in ("rollout_seconds", "phases", "per_second") if k not in data]
    if missing:
        parser.error(
            "series file %s lacks %s: give the JSON that rollout_load.py report --series-out wrote"
            % (args.series, ", ".join(missing))
        )
    print(load_client().format_table(data))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            "matplotlib is not installed: no PNG. pip install -r requirements-dev.txt (it pins matplotlib) "
            "or make venv, then run this script again",
            file=sys.stderr,
        )
        return 2
    plot(data, args.out, args.title)
    print("plot: %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
