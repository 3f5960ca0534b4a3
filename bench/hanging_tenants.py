"""Hanging tenants benchmark: what endpoints that accept and never answer cost every other tenant.

    python bench/hanging_tenants.py --endpoints 100 --hanging 10 --events 300 --repeat 3

1. Debian's nginx answers 200 on a free 127.0.0.1 port: the healthy receivers (one path per endpoint).
   A child process (this file, `--serve-hanging N`) listens on N more ports, reads each request and never answers.
2. Two backlogs are built through the public API (`verihook api` on a fresh SQLite file): one tenant per
   endpoint, `--events` events each. "without": only the healthy endpoints. "with": the same healthy tenants plus
   the hanging ones (timeout 30 s), whose events are published first, so they are older and come first in due
   order: the worst case for the others.
3. Each backlog is drained by `verihook serve` on a copy (runs interleaved). The healthy rate runs from the first
   attempt to the poll (every 20 ms, of the SQLite file) that saw every healthy delivery succeeded.

Prints the healthy rate with the hanging tenants next to the rate without them, measured in the same run (medians
of --repeat runs), and the floor as a PASS/FAIL line; exits 1 when the ratio is under --target (issue 14: 0.90).
Appends the medians to bench/results.jsonl (bench/plot.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import benchkit
import uvloop
from drain import copy_database

TIMEOUT_S = 30
POLL_S = 0.02


async def serve_hanging(count: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the sender gives up
        writer.transport.abort()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(count)]
    print(json.dumps([s.sockets[0].getsockname()[1] for s in servers]), flush=True)
    await asyncio.Event().wait()


async def build(api_base: str, healthy_url: str, hanging_ports: list[int], healthy: int, events: int) -> int:
    """Tenants and endpoints, then the events (hanging tenants' first); answers the healthy deliveries."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        admin = benchkit.Api(api_base, session)

        async def tenant(url: str, **endpoint: Any) -> benchkit.Api:
            made = await admin.post("/v1/tenants", {"name": "bench"})
            await admin.post("/v1/endpoints", {"url": url, "tenant_id": made["id"], **endpoint})
            return admin.as_key(made["api_key"])

        hanging = [await tenant(f"http://127.0.0.1:{port}/hook", timeout_s=TIMEOUT_S) for port in hanging_ports]
        others = [await tenant(f"{healthy_url}/h{n}") for n in range(healthy)]
        for api in [*hanging, *others]:
            for start in range(0, events, 1000):
                items = [{"type": benchkit.EVENT_TYPE, "data": {**benchkit.EVENT_DATA, "n": n}}
                         for n in range(start, min(events, start + 1000))]
                await api.post("/v1/events/batch", {"events": items})
    return healthy * events


def drain(backlog: Path, base: Path, healthy_url: str, expected: int, timeout_s: float,
          env: dict[str, str]) -> dict[str, Any]:
    database = base / f"drain-{time.monotonic_ns()}.db"
    copy_database(backlog, database)
    conn = sqlite3.connect(database, timeout=30)
    healthy_succeeded = ("SELECT count(*) FROM deliveries WHERE status = 'succeeded' AND url LIKE ?",
                         (healthy_url + "/%",))
    try:
        with benchkit.verihook("serve", database, wait=False, extra_env=env) as proc:
            deadline = time.monotonic() + timeout_s
            done = 0
            while done < expected and time.monotonic() < deadline:
                if proc.process.poll() is not None:
                    raise RuntimeError(proc.log.read_text(errors="replace")[-3000:])
                time.sleep(POLL_S)
                done = int(conn.execute(*healthy_succeeded).fetchone()[0])
            done_at = time.time()
            first_at = conn.execute("SELECT min(at) FROM attempts").fetchone()[0]
    finally:
        conn.close()
    if done < expected or first_at is None:
        return {"timed_out": True, "done": done}
    return {"timed_out": False, "rate": expected / (done_at - first_at), "drain_s": done_at - first_at}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=100, help="endpoints in all, one tenant each")
    parser.add_argument("--hanging", type=int, default=10, help="how many of them accept and never answer")
    parser.add_argument("--events", type=int, default=300, help="events per tenant")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--target", type=float, default=0.9, help="healthy rate with / without, to pass")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--serve-hanging", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_hanging:
        uvloop.run(serve_hanging(args.serve_hanging))
        return 0
    env = benchkit.parse_env(args.env)
    healthy = args.endpoints - args.hanging
    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    results: dict[str, Any] = {"machine": info, "args": vars(args), "with": [], "without": []}
    hanging_server = subprocess.Popen([sys.executable, __file__, "--serve-hanging", str(args.hanging)],
                                      stdout=subprocess.PIPE)
    try:
        assert hanging_server.stdout is not None
        ports = json.loads(hanging_server.stdout.readline())
        with benchkit.workdir(args.keep) as base, benchkit.nginx(base) as healthy_url:
            backlogs = {}
            for name, hanging_ports in (("without", []), ("with", ports)):
                backlogs[name] = base / f"backlog-{name}.db"
                with benchkit.verihook("api", backlogs[name]) as api:
                    expected = uvloop.run(build(api.base_url, healthy_url, hanging_ports, healthy, args.events))
            print(f"backlogs: {healthy} healthy tenants x {args.events} events ({expected:,} healthy deliveries); "
                  f"'with' adds {args.hanging} hanging tenants x {args.events} events, published first")
            timeout_s = max(120.0, expected / 200)
            for run in range(args.repeat):
                for name in ("without", "with"):
                    figures = drain(backlogs[name], base, healthy_url, expected, timeout_s, env)
                    results[name].append(figures)
                    shown = "timed out" if figures["timed_out"] else \
                        f"{figures['rate']:,.0f} healthy deliveries/s (drain {figures['drain_s']:.2f} s)"
                    print(f"run {run + 1}: {name} hanging tenants: {shown}")
    finally:
        hanging_server.kill()
        hanging_server.wait()
    results["loadavg_end"] = list(os.getloadavg())
    rates = {name: [r["rate"] for r in results[name] if not r["timed_out"]] for name in ("with", "without")}
    table = benchkit.Table()
    passed = bool(rates["with"] and rates["without"])
    if passed:
        with_, without = statistics.median(rates["with"]), statistics.median(rates["without"])
        passed = with_ / without >= args.target
        table.add(f"healthy rate, deliveries/s, {args.hanging} of {args.endpoints} endpoints hanging "
                  "(baseline: none hanging)", with_, without, f">= {args.target:.2f} x", passed)
    print()
    print(table.render())
    print(benchkit.load_line("end", results["loadavg_end"]))
    with_ = benchkit.median(rates["with"])
    without = benchkit.median(rates["without"])
    floors = [benchkit.floor(f"healthy rate with {args.hanging} of {args.endpoints} endpoints hanging, deliveries/s",
                             with_ if rates["with"] else None, args.target,
                             reference=without if rates["without"] else None,
                             reference_name="the same healthy backlog with none hanging")]
    rates_shown = {f"Verihook, {args.hanging} of {args.endpoints} hanging": with_, "Verihook, none hanging": without}
    benchkit.record("hanging_tenants", info, floors, rates=rates_shown,
                    unit="healthy deliveries/s", runs=args.repeat,
                    extra={"endpoints": args.endpoints, "hanging": args.hanging, "events_per_tenant": args.events})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
