"""Batch ingest alone: how fast `verihook api` (no dispatcher) takes events through POST /v1/events/batch,
against the same measurement of an older commit (default 6a43519, issue 14's reference) in the same run.

    python bench/ingest.py --events 50000 --repeat 3

1. Debian's nginx on a free port: the endpoint's URL (nothing is delivered: `verihook api` runs no dispatcher) and
   the receiver of the baselines.
2. The older commit is checked out with `git worktree add --detach` into a temporary directory (removed at the
   end) and run with its `src/` first on PYTHONPATH; this checkout's code runs with its own `src/` first.
3. For each run, each version in turn: `verihook api` on a fresh SQLite file, one tenant with one endpoint; this
   script publishes --events events in batches of --batch with --publishers requests in flight (bench/drain.py's
   build_backlog); events/s = events / publishing time. CPU per event is the API process's.
4. Baselines from the same run: the bare aiohttp and bare pyreqwest loops (bench/baseline.py) POST as many
   requests to nginx, for scale (they measure a client, not an ingest).

Prints figure | Verihook | baseline | ratio | target | pass/fail; the target is --floor times the older commit's rate
(issue 14: 2), also printed as a PASS/FAIL line; exits 1 when it is missed. Appends the medians to
bench/results.jsonl (bench/plot.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import benchkit
import drain
import uvloop

REFERENCE = "6a43519"


@contextlib.contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """The commit's tree in a temporary git worktree, removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix=f"verihook-{commit}-"))
    subprocess.run(["git", "-C", str(benchkit.REPO_DIR), "worktree", "add", "--detach", "--force", str(folder),
                    commit], check=True, capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(benchkit.REPO_DIR), "worktree", "remove", "--force", str(folder)],
                       check=False, capture_output=True)


def ingest_once(base: Path, name: str, receiver_url: str, events: int, batch: int, publishers: int,
                env: dict[str, str], profile: Path | None = None) -> dict[str, Any]:
    database = base / f"ingest-{name}-{time.monotonic_ns()}.db"
    drain.PUBLISHERS = publishers
    with benchkit.verihook("api", database, extra_env=env) as api:
        pid = api.process.pid
        cpu_start, threads_start = benchkit.cpu_seconds(pid), benchkit.thread_cpu_seconds(pid)
        with benchkit.py_spy(pid, profile, gil=False):
            built = uvloop.run(drain.build_backlog(api.base_url, receiver_url, events, batch))
        cpu = benchkit.cpu_seconds(pid) - cpu_start  # includes the tenant and endpoint: negligible
        threads = {name: (seconds - threads_start.get(name, 0.0)) / events * 1e6
                   for name, seconds in benchkit.thread_cpu_seconds(pid).items()}
    return {"rate": built["rate"], "elapsed_s": built["elapsed_s"], "cpu_us_per_event": cpu / events * 1e6,
            "cpu_us_per_event_by_thread": threads, "deliveries": built["deliveries"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per POST /v1/events/batch")
    parser.add_argument("--publishers", type=int, default=2, help="batch requests in flight")
    parser.add_argument("--reference", default=REFERENCE, help="the older commit to compare with")
    parser.add_argument("--baselines", default="aiohttp,pyreqwest", help="bare client loops, for scale")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; medians are shown")
    parser.add_argument("--floor", type=float, default=2.0, help="events/s to pass, times the older commit's")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for both Verihook processes")
    parser.add_argument("--py-spy", type=Path, metavar="FILE",
                        help="profile this checkout's first run (every busy thread; bench/pyspy_top.py reads it)")
    parser.add_argument("--py-spy-reference", type=Path, metavar="FILE",
                        help="profile the older commit's first run too")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs)")
    args = parser.parse_args()
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    env = benchkit.parse_env(args.env)
    timeout_s = max(120.0, args.events / 200)

    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    results: dict[str, Any] = {"machine": info, "args": vars(args), "baselines": {}, "reference": [], "now": []}
    with benchkit.workdir(args.keep) as base, benchkit.nginx(base) as receiver_url, \
            checkout(args.reference) as old:
        body = base / "body.json"
        body.write_bytes(benchkit.sample_body())
        versions = {"reference": {**env, "PYTHONPATH": str(old / "src")},
                    "now": {**env, "PYTHONPATH": str(benchkit.REPO_DIR / "src")}}
        for run in range(args.repeat):
            for client in baselines:
                figures = benchkit.run_baseline(
                    ["drain", "--url", receiver_url, "--requests", str(args.events), "--concurrency", "64",
                     "--body", str(body), "--client", client], timeout_s)
                results["baselines"].setdefault(client, []).append(figures)
                print(f"run {run + 1}: bare {client} loop: {figures['rate']:,.0f} requests/s")
            for name, version_env in versions.items():
                profile = (args.py_spy if name == "now" else args.py_spy_reference) if run == 0 else None
                figures = ingest_once(base, name, receiver_url, args.events, args.batch, args.publishers,
                                      version_env, profile)
                results[name].append(figures)
                label = args.reference if name == "reference" else info["commit"]
                split = ", ".join(f"{thread} {us:.0f}" for thread, us in figures["cpu_us_per_event_by_thread"].items())
                print(f"run {run + 1}: {label}: {figures['rate']:,.0f} events/s ingested "
                      f"({figures['elapsed_s']:.2f} s), {figures['cpu_us_per_event']:.0f} µs CPU per event ({split})")

    results["loadavg_end"] = list(os.getloadavg())
    table = benchkit.Table()
    reference = statistics.median(r["rate"] for r in results["reference"])
    now = statistics.median(r["rate"] for r in results["now"])
    passed = now >= args.floor * reference
    table.add(f"batch ingest, events/s (this code; baseline {args.reference})", now, reference,
              f">= {args.floor:g} x", passed)
    table.add(f"CPU per event, µs (this code; baseline {args.reference})",
              statistics.median(r["cpu_us_per_event"] for r in results["now"]),
              statistics.median(r["cpu_us_per_event"] for r in results["reference"]))
    for client in baselines:
        table.add(f"batch ingest, events/s (this code; baseline bare {client} requests/s)", now,
                  statistics.median(r["rate"] for r in results["baselines"][client]))
    print()
    print(table.render())
    print(benchkit.load_line("end", results["loadavg_end"]))
    floors = [benchkit.floor("batch ingest (verihook api), events/s", now, args.floor, reference=reference,
                             reference_name=f"commit {args.reference}")]
    rates = {"Verihook": now, f"Verihook at {args.reference}": reference}
    rates |= {f"bare {c}": statistics.median(r["rate"] for r in runs) for c, runs in results["baselines"].items()}
    benchkit.record("ingest", info, floors, rates=rates, unit="events/s", runs=args.repeat,
                    extra={"events": args.events})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
