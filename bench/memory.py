"""Peak memory benchmark: the resident memory of every `verihook serve` process while it drains a large backlog.

    python bench/memory.py --events 1000000

1. Debian's nginx answers 200 on a free 127.0.0.1 port (benchkit.nginx).
2. The backlog is built through the public API as in drain.py: `verihook api` on a fresh SQLite file, one tenant,
   one endpoint (nginx), --events events through POST /v1/events/batch; `verihook api` is then stopped.
3. `verihook serve` (its API process and its dispatcher processes: --dispatchers, default serve's own, one per
   core) drains a copy of it. A thread of this script reads /proc every 100 ms (--sample-s) and adds up the
   resident memory (VmRSS) of the serve process and all its children at that instant; the figure is the largest
   such sum. The SQLite file is polled every second until nothing is pending; then it must hold N succeeded
   deliveries and N attempt rows.

Also printed: the sum at start-up (before the first attempt), each process's own peak (VmHWM; their sum is an
upper bound of the figure), the drain rate and CPU per delivery.

The floor (issue 14): the peak sum <= --floor-mb (300 MB) while draining 1,000,000 deliveries, printed as a PASS/FAIL
line; exits 1 when it is missed. Appends the figures to bench/results.jsonl (bench/plot.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import benchkit
import proctree
import uvloop
from drain import build_backlog, copy_database, count_pending

FLOOR_MB = 300.0
PENDING_POLL_S = 1.0


class RssSampler(threading.Thread):
    """Every `every_s`, the sum of VmRSS over the process and its children; keeps the largest sum and when."""

    def __init__(self, pid: int, every_s: float) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.every_s = every_s
        self.peak_mb = 0.0
        self.peak_at = 0.0
        self.peak_processes: dict[int, float] = {}
        self.samples = 0
        self.series: list[tuple[float, float]] = []  # (time.time(), MB), one a second, for the record
        self._stopping = threading.Event()

    def run(self) -> None:
        last_kept = 0.0
        while not self._stopping.is_set():
            now = time.time()
            by_pid = proctree.rss_mb(self.pid)
            total = sum(by_pid.values())
            self.samples += 1
            if total > self.peak_mb:
                self.peak_mb, self.peak_at, self.peak_processes = total, now, by_pid
            if now - last_kept >= 1.0:
                self.series.append((now, total))
                last_kept = now
            self._stopping.wait(self.every_s)

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def drain_once(backlog: Path, base: Path, events: int, dispatchers: str, sample_s: float, timeout_s: float,
               env: dict[str, str]) -> dict[str, Any]:
    database = base / f"memory-{time.monotonic_ns()}.db"
    copy_database(backlog, database)
    args = ("--dispatchers", dispatchers) if dispatchers else ()
    conn = sqlite3.connect(database, timeout=60)
    try:
        with benchkit.verihook("serve", database, wait=False, extra_env=env, args=args) as proc:
            pid = proc.process.pid
            sampler = RssSampler(pid, sample_s)
            sampler.start()
            try:
                deadline = time.monotonic() + timeout_s
                pending = events
                while pending and time.monotonic() < deadline:
                    if proc.process.poll() is not None:
                        raise RuntimeError(f"verihook serve exited with {proc.process.returncode}:\n"
                                           f"{proc.log.read_text(errors='replace')[-3000:]}")
                    time.sleep(PENDING_POLL_S)
                    pending = count_pending(conn)
                done_at = time.time()
                cpu = proctree.cpu_seconds(pid)
                each_peak = proctree.peak_rss_mb(pid)
                processes = 1 + len(proctree.children(pid))
            finally:
                sampler.stop()
        first_at, attempts = conn.execute("SELECT min(at), count(*) FROM attempts").fetchone()
        statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    at_start = [mb for at, mb in sampler.series if first_at is None or at <= first_at]
    return {"timed_out": bool(pending), "pending": pending, "peak_sum_mb": sampler.peak_mb,
            "peak_processes_mb": {str(k): round(v, 1) for k, v in sampler.peak_processes.items()},
            "peak_after_s": sampler.peak_at - (first_at or proc.started_at), "sum_of_each_peak_mb": each_peak,
            "startup_sum_mb": at_start[-1] if at_start else None, "processes": processes,
            "samples": sampler.samples, "rate": events / (done_at - first_at) if first_at else None,
            "cpu_us_per_delivery": cpu / events * 1e6, "statuses": statuses, "attempts": attempts,
            "series_mb": [(round(at - sampler.series[0][0], 1), round(mb, 1)) for at, mb in sampler.series]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="deliveries in the backlog")
    parser.add_argument("--batch", type=int, default=1000, help="events per POST /v1/events/batch")
    parser.add_argument("--dispatchers", default="", help="serve's --dispatchers (default: its own, one per core)")
    parser.add_argument("--sample-s", type=float, default=0.1, help="how often /proc is read")
    parser.add_argument("--repeat", type=int, default=1, help="drains of copies of the backlog; medians are shown")
    parser.add_argument("--floor-mb", type=float, default=FLOOR_MB, help="the peak sum to pass, MB")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the Verihook processes")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (backlog, logs)")
    args = parser.parse_args()
    env = benchkit.parse_env(args.env)
    timeout_s = max(300.0, args.events / 200)

    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    results: dict[str, Any] = {"machine": info, "args": vars(args), "runs": []}
    with benchkit.workdir(args.keep) as base, benchkit.nginx(base) as receiver_url:
        backlog = base / "backlog.db"
        with benchkit.verihook("api", backlog) as api:
            built = uvloop.run(build_backlog(api.base_url, receiver_url, args.events, args.batch))
        print(f"backlog: {built['deliveries']:,} deliveries published in {built['elapsed_s']:.1f} s "
              f"({built['rate']:,.0f} events/s); {backlog.stat().st_size / 1e6:,.0f} MB")
        for run in range(args.repeat):
            figures = drain_once(backlog, base, args.events, args.dispatchers, args.sample_s, timeout_s, env)
            results["runs"].append(figures)
            if figures["timed_out"]:
                print(f"run {run + 1}: not drained within {timeout_s:.0f} s ({figures['pending']:,} pending)")
                continue
            print(f"run {run + 1}: peak of the sum of RSS over {figures['processes']} processes "
                  f"{figures['peak_sum_mb']:.0f} MB ({figures['peak_after_s']:.0f} s into the drain; by pid "
                  f"{figures['peak_processes_mb']}), at start-up {figures['startup_sum_mb'] or 0:.0f} MB, sum of "
                  f"each one's own peak {figures['sum_of_each_peak_mb']:.0f} MB; {figures['samples']:,} samples; "
                  f"drained at {figures['rate']:,.0f} deliveries/s, {figures['cpu_us_per_delivery']:.0f} µs CPU "
                  "per delivery")

    results["loadavg_end"] = list(os.getloadavg())
    runs = [r for r in results["runs"] if not r["timed_out"]]
    table = benchkit.Table()
    complete = bool(runs) and len(runs) == len(results["runs"]) and all(
        r["statuses"] == {"succeeded": args.events} and r["attempts"] == args.events for r in runs)
    peak = benchkit.median([r["peak_sum_mb"] for r in runs]) if runs else None
    if runs:
        startup = benchkit.median([r["startup_sum_mb"] or 0.0 for r in runs])
        table.add(f"peak of the sum of RSS, MB, draining {args.events:,} (baseline: the same processes at start-up)",
                  peak, startup, f"<= {args.floor_mb:.0f}", peak is not None and peak <= args.floor_mb)
        table.add("sum of each process's own peak (VmHWM), MB", benchkit.median([r["sum_of_each_peak_mb"]
                                                                                  for r in runs]), None)
        table.add("drain rate, deliveries/s", benchkit.median([r["rate"] for r in runs]), None)
        last = runs[-1]
        table.add("succeeded deliveries / attempt rows", f"{last['statuses'].get('succeeded', 0):,} / "
                  f"{last['attempts']:,}", None, f"{args.events:,} / {args.events:,}", complete)
    print()
    print(table.render())
    print(benchkit.load_line("end", results["loadavg_end"]))
    floors = [benchkit.floor(f"peak of the sum of RSS of every verihook process, draining {args.events:,}", peak,
                             args.floor_mb, at_most=True, unit=" MB")]
    benchkit.record("memory", info, floors, runs=args.repeat,
                    extra={"events": args.events, "peak_sum_mb": peak, "complete": complete,
                           "series_mb": runs[-1]["series_mb"] if runs else []})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if floors[0]["passed"] and complete else 1


if __name__ == "__main__":
    sys.exit(main())
