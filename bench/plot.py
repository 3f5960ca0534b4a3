"""One PNG of the latest benchmark figures: throughput against the baselines, latency against the bare loop, and
every floor of issue 14 as a margin.

    python bench/plot.py [--input bench/results.jsonl] [--output bench/results.png] [--commit abc1234]

Reads the JSON lines the drivers append (benchkit.record: drain, publish_deliver, ingest, pg_drain, latency,
hanging_tenants, queries, memory) and keeps the latest line of each scenario (of --commit only, if given). Three
panels:

1. throughput per scenario: Verihook's medians beside the baselines of the same run (bare aiohttp, bare
   pyreqwest, Celery + Redis + requests; ingest: the older commit; hanging tenants: none hanging), log scale;
2. publish-to-received latency p50 / p95 / p99 at each rate, beside the bare aiohttp round trip at that rate;
3. the floors: measured / floor for "at least" floors, floor / measured for "at most" ones, so that every bar
   passes at 1 or more (green) and fails under it (red).

Needs matplotlib (the `bench` extra).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after the backend is chosen

BENCH_DIR = Path(__file__).resolve().parent
ORDER = ("drain", "publish_deliver", "ingest", "pg_drain", "hanging_tenants", "latency", "queries", "memory")
COLOURS = {"Verihook": "#1f6feb", "bare aiohttp": "#8b949e", "bare pyreqwest": "#c9d1d9", "Celery": "#d29922"}


def latest(lines: list[dict[str, Any]], commit: str | None) -> dict[str, dict[str, Any]]:
    chosen: dict[str, dict[str, Any]] = {}
    for line in lines:
        if commit is None or str(line.get("commit", "")).startswith(commit):
            chosen[line["scenario"]] = line  # later lines win
    return {name: chosen[name] for name in ORDER if name in chosen} | {
        name: line for name, line in chosen.items() if name not in ORDER}


def colour(name: str, index: int) -> str:
    if "none hanging" in name or name.startswith("Verihook at "):  # Verihook as the baseline: alone, or older code
        return "#57606a"
    for prefix, value in COLOURS.items():
        if name.startswith(prefix):
            return value
    return plt.get_cmap("tab10")(index % 10)


def throughput(ax: Any, records: dict[str, dict[str, Any]]) -> None:
    rows: list[tuple[str, str, float]] = []  # (scenario label, series, rate)
    for name, record in records.items():
        for series, rate in record.get("rates", {}).items():
            if rate and not math.isnan(rate):
                rows.append((f"{name}\n({record.get('unit', '')})", series, rate))
    if not rows:
        ax.set_visible(False)
        return
    labels = list(dict.fromkeys(row[0] for row in rows))
    y = 0.0
    ticks, names = [], []
    for label in labels:
        group = [row for row in rows if row[0] == label]
        start = y
        for index, (_, series, rate) in enumerate(group):
            ax.barh(y, rate, color=colour(series, index), edgecolor="black", linewidth=0.3)
            ax.text(rate * 1.05, y, f"{series}: {rate:,.0f}", va="center", fontsize=7)
            y += 1
        ticks.append((start + y - 1) / 2)
        names.append(label)
        y += 0.8
    ax.set_yticks(ticks, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(right=ax.get_xlim()[1] * 8)
    ax.set_title("throughput: Verihook beside the baselines of the same run (medians; log scale)", fontsize=9)


def latency(ax: Any, record: dict[str, Any] | None) -> None:
    if not record or not record.get("latency_ms"):
        ax.set_visible(False)
        return
    x = 0
    ticks, names = [], []
    for label, series in record["latency_ms"].items():
        for key in ("p50", "p95", "p99"):
            for offset, (who, figures) in enumerate(series.items()):
                value = figures.get(key)
                ax.bar(x + offset * 0.4, value, width=0.4, color=colour(who, offset), edgecolor="black",
                       linewidth=0.3, label=who if (label, key) == (next(iter(record["latency_ms"])), "p50") else None)
            ticks.append(x + 0.2)
            names.append(f"{key}\n{label}")
            x += 1.2
        x += 0.6
    for floor in record.get("floors", []):
        if floor.get("at_most") and floor.get("unit") == " ms":
            ax.axhline(floor["limit"], color="red", linestyle="--", linewidth=0.8,
                       label=f"floor {floor['limit']:g} ms ({floor['name'].split(' at ')[-1]})")
    ax.set_xticks(ticks, names, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    ax.set_title("publish-to-received latency (Verihook) vs bare aiohttp round trip", fontsize=9)


def floors(ax: Any, records: dict[str, dict[str, Any]]) -> None:
    bars: list[tuple[str, float, bool]] = []
    for name, record in records.items():
        for floor in record.get("floors", []):
            measured = floor.get("measured")
            if measured is None or floor["limit"] == 0:
                margin = 1.0 if floor["passed"] else 0.0
            elif floor["at_most"]:
                margin = floor["limit"] / measured if measured else 10.0
            else:
                margin = measured / floor["limit"]
            bars.append((f"{name}: {floor['name']}"[:90], margin, floor["passed"]))
    if not bars:
        ax.set_visible(False)
        return
    for index, (_, margin, passed) in enumerate(bars):
        ax.barh(index, max(margin, 0.01), color="#2da44e" if passed else "#cf222e")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(bars)), [bar[0] for bar in bars], fontsize=6)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_title("floors (issue 14): measured / floor, or floor / measured for an upper bound; >= 1 passes",
                 fontsize=9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=BENCH_DIR / "results.jsonl")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.png")
    parser.add_argument("--commit", help="only lines of this commit (a prefix of the short hash)")
    args = parser.parse_args()
    lines = [json.loads(line) for line in args.input.read_text().splitlines() if line.strip()]
    records = latest(lines, args.commit)
    if not records:
        raise SystemExit(f"no figures in {args.input}" + (f" for commit {args.commit}" if args.commit else ""))
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(12, 16), gridspec_kw={"height_ratios": [3, 2, 3]})
    throughput(top, records)
    latency(middle, records.get("latency"))
    floors(bottom, records)
    loads = [f"{name} {record['loadavg_start'][0]:.1f}" for name, record in records.items()]
    commits = sorted({str(record.get("commit")) for record in records.values()})
    figure.suptitle(f"Verihook benchmarks, code {', '.join(commits)}; {records[next(iter(records))].get('cores')} "
                    f"cores; 1-min load at start: {', '.join(loads)}", fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 0.98))
    figure.savefig(args.output, dpi=110)
    print(f"wrote {args.output} from {len(records)} scenarios: {', '.join(records)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
