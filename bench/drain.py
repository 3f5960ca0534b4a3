"""Drain benchmark: how fast one `verihook serve` process on SQLite delivers a backlog, every attempt recorded.

    python bench/drain.py --events 50000

1. Debian's nginx answers 200 on a free 127.0.0.1 port (the fast receiver, in its own process).
2. The backlog is built through the public path: `verihook api` (no dispatcher) on a fresh SQLite file; one
   tenant with one endpoint (nginx); the events are published with POST /v1/events/batch, 1,000 per batch.
   `verihook api` is then stopped, and the file copied once per transport measured.
3. Baseline: bench/baseline.py, a bare aiohttp loop (no state, no signing, uvloop), POSTs as many requests of the
   same body size to the same nginx, with as many in flight as Verihook sends to one endpoint.
4. For each transport: `verihook serve` starts on a copy of the backlog; its dispatcher processes (with
   `--dispatchers 0`: its own dispatcher) drain it; CPU and memory count the API process and its dispatchers.
   This script polls the SQLite file (not the measured process) every 20 ms until no delivery is pending. The
   drain time runs from the first attempt's start (recorded in the attempts table) to the poll that saw
   pending == 0; process start-up is reported apart. Then the file must hold N succeeded deliveries and N attempt rows.

Also the Celery baseline (bench/celery_baseline.py: Redis broker, `requests`, one task per delivery, autoretry)
drains --celery-requests (2,000: it does ~600/s) to the same nginx; 0 leaves it out.

Prints figure | Verihook | baseline | ratio | target | pass/fail, then issue 14's floors as PASS/FAIL lines: the
headline drain >= --floor (1.3) x bare aiohttp of the same run, and >= --target (5,000) deliveries/s; exits 1
when one is missed. Appends the medians to bench/results.jsonl (bench/plot.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import benchkit
import proctree
import uvloop

TARGET_RATE = 5000.0
FLOOR_X_AIOHTTP = 1.3  # issue 14: the drain by one serve on SQLite, times bare aiohttp in the same run
POLL_S = 0.02
PUBLISHERS = 2  # batch requests in flight while the backlog is built


async def build_backlog(api_base: str, receiver_url: str, events: int, batch: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        admin = benchkit.Api(api_base, session)
        tenant_id, key, endpoint_id = await admin.tenant_with_endpoint(receiver_url)
        api = admin.as_key(key)
        sizes = [min(batch, events - start) for start in range(0, events, batch)]
        queue = list(enumerate(sizes))
        published = 0

        async def publisher() -> None:
            nonlocal published
            while queue:
                index, size = queue.pop(0)
                items = [{"type": benchkit.EVENT_TYPE, "data": {**benchkit.EVENT_DATA, "n": index * batch + i}}
                         for i in range(size)]
                answer = await api.post("/v1/events/batch", {"events": items})
                published += sum(len(item["deliveries"]) for item in answer["data"])

        start = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(PUBLISHERS)))
        elapsed = time.perf_counter() - start
    return {"tenant_id": tenant_id, "endpoint_id": endpoint_id, "deliveries": published, "elapsed_s": elapsed,
            "rate": events / elapsed}


def count_pending(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM deliveries WHERE status = 'pending'").fetchone()[0])


def copy_database(source: Path, target: Path) -> None:
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def drain_once(backlog: Path, base: Path, transport: str, events: int, timeout_s: float,
               profile: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    database = base / f"drain-{time.monotonic_ns()}.db"  # a fresh copy per drain
    copy_database(backlog, database)
    samples: list[tuple[float, float, dict[str, float]]] = []  # (time.time(), process CPU s, CPU s by thread name)
    conn = sqlite3.connect(database, timeout=30)
    try:
        with benchkit.verihook("serve", database, transport=transport, wait=False, extra_env=env) as proc, \
                benchkit.py_spy(proc.process.pid, profile):
            pid = proc.process.pid
            deadline = time.monotonic() + timeout_s
            pending = events
            while True:
                if proc.process.poll() is not None:
                    raise RuntimeError(f"verihook serve exited with {proc.process.returncode}:\n"
                                       f"{proc.log.read_text(errors='replace')[-3000:]}")
                pending = count_pending(conn)
                threads = benchkit.thread_cpu_seconds(pid)
                threads["dispatcher processes"] = proctree.children_cpu_seconds(pid)  # serve --dispatchers N
                samples.append((time.time(), proctree.cpu_seconds(pid), threads))
                if pending == 0:
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(POLL_S)
            done_at, cpu_done, threads_done = samples[-1]
            peak_rss = proctree.peak_rss_mb(pid)
        row = conn.execute("SELECT count(*), min(at), max(at) FROM attempts").fetchone()
        attempts, first_at, last_at = int(row[0]), row[1], row[2]
        statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
        ok_attempts = int(conn.execute("SELECT count(*) FROM attempts WHERE status_code = 200").fetchone()[0])
        distinct = int(conn.execute("SELECT count(DISTINCT delivery_id) FROM attempts").fetchone()[0])
    finally:
        conn.close()
    if pending != 0 or first_at is None:
        return {"transport": transport, "timed_out": True, "pending": pending, "attempts": attempts,
                "statuses": statuses}
    drain_s = done_at - first_at
    start_at, cpu_start, threads_start = next((s for s in reversed(samples) if s[0] <= first_at), samples[0])
    cpu = cpu_done - cpu_start
    window = done_at - start_at
    threads = {name: (spent - threads_start.get(name, 0.0)) / window for name, spent in threads_done.items()}
    return {"transport": transport, "timed_out": False, "rate": events / drain_s, "drain_s": drain_s,
            "startup_s": first_at - proc.started_at, "last_attempt_to_done_s": done_at - last_at,
            "cpu_s": cpu, "cpu_us_per_delivery": cpu / events * 1e6, "peak_rss_mb": peak_rss,
            "cores_used": cpu / window, "thread_cores": {k: round(v, 3) for k, v in threads.items() if v >= 0.005},
            "statuses": statuses, "attempts": attempts, "ok_attempts": ok_attempts,
            "attempted_deliveries": distinct}


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per POST /v1/events/batch")
    parser.add_argument("--transports", default="pyreqwest,aiohttp",
                        help="Verihook transports to drain with, comma separated (first = the headline); an entry "
                        "may carry its own settings and experimental patches (bench/patches): "
                        "pyreqwest@VERIHOOK_MAX_IN_FLIGHT=2048+VERIHOOK_BENCH_PATCHES=flush256")
    parser.add_argument("--baselines", default="aiohttp,pyreqwest",
                        help="bare client loops to measure, comma separated (first = the headline baseline)")
    parser.add_argument("--dispatchers", default="",
                        help="serve's dispatcher processes to drain with, comma separated (e.g. 0,1,2: each transport "
                        "once per count, as VERIHOOK_DISPATCHERS; default: serve's own, one per core)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="baseline requests in flight; Verihook's per-endpoint bound (default 64)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; medians are shown")
    parser.add_argument("--target", type=float, default=TARGET_RATE, help="deliveries/s to pass")
    parser.add_argument("--floor", type=float, default=FLOOR_X_AIOHTTP,
                        help="the headline drain rate to pass, times bare aiohttp of the same run (issue 14: 1.3)")
    parser.add_argument("--celery-requests", type=int, default=benchkit.CELERY_REQUESTS,
                        help="deliveries for the Celery baseline, each run (default 2,000; 0: leave it out)")
    parser.add_argument("--drain-timeout-s", type=float, default=0.0,
                        help="give up a drain after this long (default max(120, events/250))")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the Verihook process, e.g. VERIHOOK_MAX_IN_FLIGHT=2048")
    parser.add_argument("--py-spy", metavar="FILE", type=Path,
                        help="profile the first drain with py-spy into FILE (collapsed stacks; slows that drain)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs)")
    args = parser.parse_args()
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    if args.dispatchers:
        transports = [f"{t}{'+' if '@' in t else '@'}VERIHOOK_DISPATCHERS={count.strip()}"
                      for count in args.dispatchers.split(",") for t in transports]
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    timeout_s = args.drain_timeout_s or max(120.0, args.events / 250)
    env = benchkit.parse_env(args.env)

    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    results: dict[str, Any] = {"machine": info, "args": vars(args), "baselines": {}, "verihook": {}}
    with benchkit.workdir(args.keep) as base, benchkit.nginx(base) as receiver_url:
        body = base / "body.json"
        body.write_bytes(benchkit.sample_body())
        backlog = base / "backlog.db"
        with benchkit.verihook("api", backlog) as api:
            built = uvloop.run(build_backlog(api.base_url, receiver_url, args.events, args.batch))
        results["backlog"] = built
        print(f"backlog: {built['deliveries']:,} deliveries published in {built['elapsed_s']:.1f} s "
              f"({built['rate']:,.0f} events/s through POST /v1/events/batch); body {body.stat().st_size} bytes")
        with sqlite3.connect(backlog) as conn:
            pending = count_pending(conn)
        if pending != args.events:
            raise SystemExit(f"the backlog holds {pending} pending deliveries, not {args.events}")

        for run in range(args.repeat):
            for client in baselines:
                figures = benchkit.run_baseline(
                    ["drain", "--url", receiver_url, "--requests", str(args.events), "--concurrency",
                     str(args.concurrency), "--body", str(body), "--client", client], timeout_s)
                results["baselines"].setdefault(client, []).append(figures)
                print(f"run {run + 1}: bare {client} loop: {figures['rate']:,.0f} requests/s, "
                      f"{figures['cpu_us_per_request']:.0f} µs CPU per request, statuses {figures['statuses']}")
            if args.celery_requests:
                results["baselines"].setdefault("celery", []).append(benchkit.celery_baseline(
                    "drain", receiver_url, args.celery_requests, body, timeout_s, run))
            for transport in transports:
                profile = args.py_spy if run == 0 and transport == transports[0] else None
                kind, _, own = transport.partition("@")
                own_env = benchkit.parse_env([item for item in own.split("+") if item])
                figures = drain_once(backlog, base, kind, args.events, timeout_s, profile, {**env, **own_env})
                results["verihook"].setdefault(transport, []).append(figures)
                if figures["timed_out"]:
                    print(f"run {run + 1}: Verihook ({transport}) did not drain within {timeout_s:.0f} s: {figures}")
                    continue
                print(f"run {run + 1}: Verihook ({transport}): {figures['rate']:,.0f} deliveries/s "
                      f"(drain {figures['drain_s']:.2f} s after {figures['startup_s']:.2f} s of start-up), "
                      f"{figures['cpu_us_per_delivery']:.0f} µs CPU per delivery, peak RSS "
                      f"{figures['peak_rss_mb']:.0f} MB; cores used {figures['cores_used']:.2f}: "
                      + ", ".join(f"{name} {cores:.2f}" for name, cores in figures["thread_cores"].items()))

    results["loadavg_end"] = list(os.getloadavg())
    table, passed = report(results, transports, baselines, args.events, args.target)
    print()
    print(table)
    print(benchkit.load_line("end", results["loadavg_end"]))
    floors = check_floors(results, transports, args.floor, args.target)
    passed &= all(f["passed"] for f in floors)
    rates = {f"Verihook ({t})": median(ok, "rate") for t in transports
             if (ok := [r for r in results["verihook"].get(t, []) if not r["timed_out"]])}
    rates |= {("Celery" if c == "celery" else f"bare {c}"): median(runs, "rate")
              for c, runs in results["baselines"].items()}
    benchkit.record("drain", info, floors, rates=rates, unit="deliveries/s", runs=args.repeat,
                    extra={"events": args.events, "celery_requests": args.celery_requests})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if passed else 1


def check_floors(results: dict[str, Any], transports: list[str], floor: float, target: float
                 ) -> list[dict[str, Any]]:
    runs = [r for r in results["verihook"].get(transports[0], []) if not r["timed_out"]] if transports else []
    rate = median(runs, "rate") if runs else None
    aiohttp_runs = results["baselines"].get("aiohttp", [])
    bare = median(aiohttp_runs, "rate") if aiohttp_runs else None
    floors = [benchkit.floor(f"drain rate ({transports[0]}), deliveries/s", rate, floor, reference=bare,
                             reference_name="bare aiohttp"),
              benchkit.floor(f"drain rate ({transports[0]})", rate, target, unit=" deliveries/s")]
    celery = results["baselines"].get("celery", [])
    if celery and rate:
        print(f"         the same drain against Celery + Redis + requests: {rate / median(celery, 'rate'):.1f} x "
              f"({median(celery, 'rate'):,.0f} deliveries/s on {celery[0]['requests']:,})")
    return floors


def report(results: dict[str, Any], transports: list[str], baselines: list[str], events: int, target: float
           ) -> tuple[str, bool]:
    table = benchkit.Table()
    passed = True
    base_runs = results["baselines"].get(baselines[0], []) if baselines else []
    base_rate = median(base_runs, "rate") if base_runs else None
    base_cpu = median(base_runs, "cpu_us_per_request") if base_runs else None
    label = f"bare {baselines[0]}" if baselines else "none"
    for transport in transports:
        runs = [r for r in results["verihook"].get(transport, []) if not r["timed_out"]]
        if not runs:
            table.add(f"drain rate, deliveries/s ({transport} transport)", "timed out", base_rate,
                      f">= {target:,.0f}", False)
            passed = False
            continue
        rate = median(runs, "rate")
        ok = rate >= target
        passed &= ok
        table.add(f"drain rate, deliveries/s ({transport} transport; baseline {label})", rate, base_rate,
                  f">= {target:,.0f}", ok)
        table.add(f"CPU per delivery, µs ({transport} transport; baseline {label})",
                  median(runs, "cpu_us_per_delivery"), base_cpu)
        complete = all(r["statuses"] == {"succeeded": events} and r["attempts"] == events
                       and r["ok_attempts"] == events for r in runs)
        passed &= complete
        last = runs[-1]
        table.add(f"succeeded deliveries / attempt rows ({transport})",
                  f"{last['statuses'].get('succeeded', 0):,} / {last['attempts']:,}", None,
                  f"{events:,} / {events:,}", complete)
    for client in [*baselines[1:], "celery"]:
        runs = results["baselines"].get(client, [])
        ours = [r for r in results["verihook"].get(client, []) if not r["timed_out"]]
        if runs:
            name = "Celery + Redis + requests" if client == "celery" else f"bare {client}"
            shown = client
            if client == "celery":  # the headline drain against it
                shown, ours = transports[0], [r for r in results["verihook"].get(transports[0], [])
                                              if not r["timed_out"]]
            table.add(f"drain rate, deliveries/s ({shown} transport; baseline {name})",
                      median(ours, "rate") if ours else "-", median(runs, "rate"))
    first = [r for r in results["verihook"].get(transports[0], []) if not r["timed_out"]] if transports else []
    if first:
        table.add(f"start-up to first attempt, s ({transports[0]})", median(first, "startup_s"), None, fmt="{:.2f}")
    table.add("backlog publish rate, events/s (POST /v1/events/batch)", results["backlog"]["rate"], None)
    return table.render(), passed


if __name__ == "__main__":
    sys.exit(main())
