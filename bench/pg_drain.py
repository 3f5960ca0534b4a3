"""Drain benchmark on PostgreSQL: N `verihook worker` processes (default 2) share one database and deliver a
backlog to a fast local receiver, every attempt recorded.

    python bench/pg_drain.py --events 100000 [--workers 2] [--repeat 3]

1. Debian's nginx answers 200 on a free 127.0.0.1 port (bench/benchkit.py, one nginx worker).
2. A fresh database verihook_bench_<random> on the local PostgreSQL (127.0.0.1:5432; $VERIHOOK_BENCH_PG_URL names
   another server, any database on it: the benchmark creates its own and drops them at the end). `verihook api`
   (no dispatcher; it migrates the empty database as it starts) builds the backlog through the public path: one
   tenant, one endpoint (nginx), POST /v1/events/batch of 1,000 events. The API is stopped; the backlog database is the
   template of one fresh copy per run (CREATE DATABASE ... TEMPLATE).
3. Baseline: bench/baseline.py, a bare aiohttp loop in one process (no state, no signing, uvloop), POSTs as many
   requests of the same body to the same nginx with 64 in flight.
4. Each run starts the workers at once on a copy; this script polls the database every 20 ms for a pending
   delivery (an index probe, not a count, which would load the server being measured). The drain time runs from
   the first attempt's start (the attempts table) to the poll that saw none pending; the database must then hold
   N succeeded deliveries and N attempt rows answered 200. CPU is measured over the same span for the workers,
   and for PostgreSQL: the server processes connected to this run's database plus the server's checkpointer,
   background writer and WAL writer (which also serve any other database's load on a shared server).

Prints figure | Verihook | baseline | ratio | target | pass/fail (medians over runs); exits 1 when a target is
missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import benchkit
import uvloop
from drain import build_backlog

TARGET_RATE = 8000.0
FLOOR_X_AIOHTTP = 1.1  # issue 14: two workers on PostgreSQL, times bare aiohttp in the same run
POLL_S = 0.02
PIDS_EVERY = 25  # polls between two looks for new server processes of the run's database
PENDING = "SELECT EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending')"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def process_title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU seconds used by a set of processes since the meter was made, counting processes added later from
    their start."""

    def __init__(self, pids: list[int]) -> None:
        self.seen: dict[int, float] = {}
        self.start: dict[int, float] = {}
        self.pids: list[int] = []
        self.add(pids)

    def add(self, pids: list[int]) -> None:
        for pid in pids:
            if pid not in self.start:
                self.start[pid] = self._cpu(pid) or 0.0
                self.pids.append(pid)

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            return benchkit.cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            return None

    def read(self) -> float:
        for pid in self.pids:
            cpu = self._cpu(pid)
            if cpu is not None:
                self.seen[pid] = cpu
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.seen.items())


def database_url(server: str, name: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + name


@contextlib.asynccontextmanager
async def databases(server: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """An admin connection and a name prefix; every database made with the prefix is dropped at the end."""
    admin = await asyncpg.connect(server)
    prefix = f"verihook_bench_{secrets.token_hex(3)}"
    try:
        yield admin, prefix
    finally:
        for (name,) in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"):
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def drain_once(url: str, base: Path, workers: int, events: int, timeout_s: float,
                     extra_env: dict[str, str], profile: Path | None) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    env = {"VERIHOOK_DATABASE_URL": url, **extra_env}
    # the server processes of this database (the workers' connections), and the server's own background processes
    background = [pid for pid in postgres_pids()
                  if any(k in process_title(pid) for k in ("checkpointer", "writer", "walwriter", "bin/postgres"))]
    postgres = CpuMeter(background)
    database = url.rsplit("/", 1)[1]
    try:
        with contextlib.ExitStack() as stack:
            procs = [stack.enter_context(benchkit.verihook("worker", base / "pg", wait=False, extra_env=env))
                     for _ in range(workers)]
            stack.enter_context(benchkit.py_spy(procs[0].process.pid, profile))
            meter = CpuMeter([p.process.pid for p in procs])
            samples: list[tuple[float, float, float]] = []  # (time.time(), workers' CPU, PostgreSQL's CPU)
            deadline = time.monotonic() + timeout_s
            pending = events
            while True:
                for proc in procs:
                    if proc.process.poll() is not None:
                        raise RuntimeError(f"a worker exited with {proc.process.returncode}:\n"
                                           f"{proc.log.read_text(errors='replace')[-3000:]}")
                # an index probe, not a count: the poll must not load the server it measures
                pending = await conn.fetchval(PENDING)
                if len(samples) % PIDS_EVERY == 0:
                    postgres.add([r[0] for r in await conn.fetch(
                        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)])
                samples.append((time.time(), meter.read(), postgres.read()))
                if not pending or time.monotonic() > deadline:
                    break
                await asyncio.sleep(POLL_S)
            pending = await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'")
            started_at = min(p.started_at for p in procs)
        attempts, ok_attempts, first_at, last_at = await conn.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE status_code = 200), min(at), max(at) FROM attempts")
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM deliveries GROUP BY status"))
    finally:
        await conn.close()
    if pending != 0 or first_at is None:
        return {"timed_out": True, "pending": pending, "attempts": attempts, "statuses": statuses}
    done_at, workers_cpu_done, pg_cpu_done = samples[-1]
    before = next((s for s in reversed(samples) if s[0] <= first_at), samples[0])
    drain_s = done_at - first_at
    workers_cpu, pg_cpu = workers_cpu_done - before[1], pg_cpu_done - before[2]
    return {"timed_out": False, "rate": events / drain_s, "drain_s": drain_s, "startup_s": first_at - started_at,
            "last_attempt_to_done_s": done_at - last_at, "workers_cpu_us": workers_cpu / events * 1e6,
            "postgres_cpu_us": pg_cpu / events * 1e6, "statuses": statuses, "attempts": attempts,
            "ok_attempts": ok_attempts}


async def run(args: argparse.Namespace, base: Path, receiver_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {"runs": [], "baseline": []}
    body = base / "body.json"
    body.write_bytes(benchkit.sample_body())
    (base / "pg").mkdir()
    async with databases(args.server) as (admin, prefix):
        backlog = f"{prefix}_backlog"
        await admin.execute(f'CREATE DATABASE "{backlog}"')
        backlog_url = database_url(args.server, backlog)
        env = {"VERIHOOK_DATABASE_URL": backlog_url}
        with benchkit.verihook("api", base / "pg", extra_env=env) as api:
            built = await build_backlog(api.base_url, receiver_url, args.events, args.batch)
        results["backlog"] = built
        print(f"backlog: {built['deliveries']:,} deliveries published in {built['elapsed_s']:.1f} s "
              f"({built['rate']:,.0f} events/s through POST /v1/events/batch, one `verihook api` on PostgreSQL)")
        timeout_s = args.drain_timeout_s or max(120.0, args.events / 500)
        for index in range(args.repeat):
            figures = benchkit.run_baseline(
                ["drain", "--url", receiver_url, "--requests", str(args.events), "--concurrency", "64",
                 "--body", str(body), "--client", "aiohttp"], timeout_s)
            results["baseline"].append(figures)
            print(f"run {index + 1}: bare aiohttp loop: {figures['rate']:,.0f} requests/s, "
                  f"{figures['cpu_us_per_request']:.0f} µs CPU per request")
            copy = f"{prefix}_run{index}"
            await admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{backlog}"')
            extra = {"VERIHOOK_MAX_IN_FLIGHT": str(args.max_in_flight)} if args.max_in_flight else {}
            figures = await drain_once(database_url(args.server, copy), base, args.workers, args.events, timeout_s,
                                       extra, args.py_spy if index == 0 else None)
            results["runs"].append(figures)
            await admin.execute(f'DROP DATABASE "{copy}" WITH (FORCE)')
            if figures["timed_out"]:
                print(f"run {index + 1}: {args.workers} workers did not drain within {timeout_s:.0f} s: {figures}")
                continue
            print(f"run {index + 1}: {args.workers} workers: {figures['rate']:,.0f} deliveries/s (drain "
                  f"{figures['drain_s']:.2f} s after {figures['startup_s']:.2f} s of start-up); CPU per delivery "
                  f"{figures['workers_cpu_us']:.0f} µs in the workers, {figures['postgres_cpu_us']:.0f} µs in "
                  "PostgreSQL")
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> tuple[str, bool]:
    table = benchkit.Table()
    runs = [r for r in results["runs"] if not r["timed_out"]]
    base_rate = statistics.median(r["rate"] for r in results["baseline"])
    base_cpu = statistics.median(r["cpu_us_per_request"] for r in results["baseline"])
    if not runs:
        table.add("drain rate, deliveries/s", "timed out", base_rate, f">= {args.target:,.0f}", False)
        return table.render(), False
    rate = statistics.median(r["rate"] for r in runs)
    passed = rate >= args.target and len(runs) == len(results["runs"])
    table.add(f"drain rate, deliveries/s ({args.workers} workers; baseline bare aiohttp, 1 process)", rate,
              base_rate, f">= {args.target:,.0f}", rate >= args.target)
    table.add("CPU per delivery in the workers, µs (baseline: per request)",
              statistics.median(r["workers_cpu_us"] for r in runs), base_cpu)
    table.add("CPU per delivery in PostgreSQL, µs", statistics.median(r["postgres_cpu_us"] for r in runs), None)
    complete = all(r["statuses"] == {"succeeded": args.events} and r["attempts"] == args.events
                   and r["ok_attempts"] == args.events for r in runs)
    passed &= complete
    last = runs[-1]
    table.add("succeeded deliveries / attempt rows answered 200",
              f"{last['statuses'].get('succeeded', 0):,} / {last['ok_attempts']:,}", None,
              f"{args.events:,} / {args.events:,}", complete)
    table.add("start-up to first attempt, s", statistics.median(r["startup_s"] for r in runs), None, fmt="{:.2f}")
    table.add("backlog publish rate, events/s (POST /v1/events/batch)", results["backlog"]["rate"], None)
    return table.render(), passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="`verihook worker` processes")
    parser.add_argument("--batch", type=int, default=1000, help="events per POST /v1/events/batch")
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are shown")
    parser.add_argument("--target", type=float, default=TARGET_RATE, help="deliveries/s to pass")
    parser.add_argument("--floor", type=float, default=FLOOR_X_AIOHTTP,
                        help="the drain rate to pass, times bare aiohttp of the same run (issue 14: 1.1)")
    parser.add_argument("--max-in-flight", type=int, default=0, help="VERIHOOK_MAX_IN_FLIGHT per worker")
    parser.add_argument("--drain-timeout-s", type=float, default=0.0)
    parser.add_argument("--server", default=os.environ.get("VERIHOOK_BENCH_PG_URL", DEFAULT_SERVER),
                        help="a PostgreSQL URL whose user may create databases")
    parser.add_argument("--py-spy", metavar="FILE", type=Path,
                        help="profile the first worker of the first run with py-spy into FILE (slows that run)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    with benchkit.workdir(args.keep) as base, benchkit.nginx(base) as receiver_url:
        results = uvloop.run(run(args, base, receiver_url))
    table, passed = report(results, args)
    print()
    print(table)
    print(benchkit.load_line("end", os.getloadavg()))
    runs = [r for r in results["runs"] if not r["timed_out"]]
    rate = statistics.median(r["rate"] for r in runs) if runs else None
    bare = statistics.median(r["rate"] for r in results["baseline"])
    floors = [benchkit.floor(f"drain rate ({args.workers} workers on PostgreSQL), deliveries/s", rate, args.floor,
                             reference=bare, reference_name="bare aiohttp"),
              benchkit.floor(f"drain rate ({args.workers} workers on PostgreSQL)", rate, args.target,
                             unit=" deliveries/s")]
    passed &= all(f["passed"] for f in floors)
    benchkit.record("pg_drain", info, floors, rates={f"Verihook ({args.workers} workers)": rate or 0.0,
                                                     "bare aiohttp": bare},
                    unit="deliveries/s", runs=args.repeat, extra={"events": args.events})
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
