"""Publish and deliver at once: events published through POST /v1/events/batch while `verihook serve` on SQLite
delivers them to nginx, end to end, every attempt recorded.

    python bench/publish_deliver.py --events 30000 --dispatchers 0,1,2

1. Debian's nginx answers 200 on a free 127.0.0.1 port (benchkit.nginx).
2. Baselines from the same run: bench/baseline.py drains as many POSTs of the same body size to the same nginx,
   64 in flight, with bare aiohttp (the headline) and bare pyreqwest.
3. For each dispatcher count: `verihook serve --dispatchers N` on a fresh SQLite file, one tenant with one endpoint
   (nginx); once /readyz answers 200, PUBLISHERS coroutines of this script post batches of --batch events until
   --events are published, while the serve delivers them. This script polls the SQLite file every 20 ms (in a
   thread) until nothing is pending. The end-to-end rate is events / (all delivered - first publish). Also
   printed: the publish rate alone, the largest backlog seen, the CPU per event of the serve (API process and its
   dispatcher processes). The publishers run in this process: they take CPU from the same 2 cores, which the bare
   loops do not have to share.
4. Then the file must hold N succeeded deliveries, N attempt rows and N 200s.

Also the Celery baseline in its publish mode (bench/celery_baseline.py: the worker runs while one producer
enqueues; Redis broker, `requests`, one task per delivery, autoretry) on --celery-requests (2,000: it does
~600/s) to the same nginx; 0 leaves it out.

Prints figure | Verihook | baseline | ratio | target | pass/fail, then the floor as a PASS/FAIL line: the
end-to-end rate of serve's default dispatcher count (one per core) >= --floor times bare aiohttp of the same run
(issue 14: 0.8; the other counts are shown, not judged); exits 1 when it is missed. Appends the medians to
bench/results.jsonl (bench/plot.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

POLL_S = 0.02
JUDGED = os.cpu_count() or 1  # serve's default dispatcher count: the one the floor is about
READY_TIMEOUT_S = 60.0


async def wait_ready(base_url: str, session: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            async with session.get(base_url + "/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{base_url}/readyz did not answer 200 within {READY_TIMEOUT_S} s")


def pending_now(database: Path) -> int:
    with sqlite3.connect(database, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM deliveries WHERE status = 'pending'").fetchone()[0])


async def publish_and_deliver(base_url: str, receiver_url: str, database: Path, pid: int, events: int, batch: int,
                              publishers: int, timeout_s: float) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await wait_ready(base_url, session)
        admin = benchkit.Api(base_url, session)
        _, key, _ = await admin.tenant_with_endpoint(receiver_url)
        api = admin.as_key(key)
        starts = list(range(0, events, batch))
        published = 0

        async def publisher() -> None:
            nonlocal published
            while starts:
                start = starts.pop(0)
                items = [{"type": benchkit.EVENT_TYPE, "data": {**benchkit.EVENT_DATA, "n": n}}
                         for n in range(start, min(events, start + batch))]
                await api.post("/v1/events/batch", {"events": items})
                published += len(items)

        cpu_start = proctree.cpu_seconds(pid)
        started = time.time()
        publishing = asyncio.gather(*(publisher() for _ in range(publishers)))
        published_at = None
        largest_backlog = 0
        deadline = time.monotonic() + timeout_s
        while True:
            await asyncio.sleep(POLL_S)
            if published_at is None and publishing.done():
                await publishing  # raises if a batch was refused
                published_at = time.time()
            pending = await asyncio.to_thread(pending_now, database)
            largest_backlog = max(largest_backlog, pending)
            if published_at is not None and pending == 0:
                break
            if time.monotonic() > deadline:
                publishing.cancel()
                return {"timed_out": True, "published": published, "pending": pending}
        done_at = time.time()
        cpu = proctree.cpu_seconds(pid) - cpu_start
        peak_rss = proctree.peak_rss_mb(pid)
    with sqlite3.connect(database, timeout=30) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
        attempts, ok = conn.execute("SELECT count(*), count(*) FILTER (WHERE status_code = 200) FROM attempts"
                                    ).fetchone()
    return {"timed_out": False, "rate": events / (done_at - started), "elapsed_s": done_at - started,
            "publish_rate": events / (published_at - started), "largest_backlog": largest_backlog,
            "cpu_us_per_event": cpu / events * 1e6, "cores_used": cpu / (done_at - started),
            "peak_rss_mb": peak_rss, "statuses": statuses, "attempts": attempts, "ok_attempts": ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=500, help="events per POST /v1/events/batch")
    parser.add_argument("--publishers", type=int, default=2, help="batch requests in flight")
    parser.add_argument("--dispatchers", default="0,1,2", help="serve's dispatcher processes, comma separated; "
                        "each count is measured in turn")
    parser.add_argument("--baselines", default="aiohttp,pyreqwest", help="bare client loops (first: the headline)")
    parser.add_argument("--concurrency", type=int, default=64, help="baseline requests in flight")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; medians are shown")
    parser.add_argument("--floor", type=float, default=0.8, help="the end-to-end rate to pass, times bare aiohttp")
    parser.add_argument("--celery-requests", type=int, default=benchkit.CELERY_REQUESTS,
                        help="deliveries for the Celery baseline, each run (default 2,000; 0: leave it out)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the Verihook processes")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs)")
    args = parser.parse_args()
    counts = [int(c) for c in args.dispatchers.split(",") if c.strip()]
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    env = benchkit.parse_env(args.env)
    timeout_s = max(120.0, args.events / 200)

    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    results: dict[str, Any] = {"machine": info, "args": vars(args), "baselines": {}, "verihook": {}}
    with benchkit.workdir(args.keep) as base, benchkit.nginx(base) as receiver_url:
        body = base / "body.json"
        body.write_bytes(benchkit.sample_body())
        for run in range(args.repeat):
            for client in baselines:
                figures = benchkit.run_baseline(
                    ["drain", "--url", receiver_url, "--requests", str(args.events), "--concurrency",
                     str(args.concurrency), "--body", str(body), "--client", client], timeout_s)
                results["baselines"].setdefault(client, []).append(figures)
                print(f"run {run + 1}: bare {client} loop: {figures['rate']:,.0f} requests/s, "
                      f"{figures['cpu_us_per_request']:.0f} µs CPU per request")
            if args.celery_requests:
                results["baselines"].setdefault("celery", []).append(benchkit.celery_baseline(
                    "publish", receiver_url, args.celery_requests, body, timeout_s, run))
            for count in counts:
                database = base / f"serve-{count}-{run}.db"
                with benchkit.verihook("serve", database, extra_env=env, args=("--dispatchers", str(count))) as proc:
                    figures = uvloop.run(publish_and_deliver(proc.base_url, receiver_url, database, proc.process.pid,
                                                             args.events, args.batch, args.publishers, timeout_s))
                results["verihook"].setdefault(str(count), []).append(figures)
                if figures["timed_out"]:
                    print(f"run {run + 1}: --dispatchers {count}: not done within {timeout_s:.0f} s: {figures}")
                    continue
                print(f"run {run + 1}: --dispatchers {count}: {figures['rate']:,.0f} events/s published and "
                      f"delivered ({figures['elapsed_s']:.2f} s; publishing alone {figures['publish_rate']:,.0f}/s; "
                      f"largest backlog {figures['largest_backlog']:,}), {figures['cpu_us_per_event']:.0f} µs CPU "
                      f"per event, cores used {figures['cores_used']:.2f}, peak RSS {figures['peak_rss_mb']:.0f} MB")

    results["loadavg_end"] = list(os.getloadavg())
    table, passed = report(results, counts, baselines, args.events, args.floor)
    print()
    print(table)
    print(benchkit.load_line("end", results["loadavg_end"]))
    judged = JUDGED if JUDGED in counts else counts[-1]
    judged_runs = [r for r in results["verihook"].get(str(judged), []) if not r["timed_out"]]
    rate = statistics.median(r["rate"] for r in judged_runs) if judged_runs else None
    bare = results["baselines"].get("aiohttp")
    floors = [benchkit.floor(f"publish and deliver (--dispatchers {judged}), events/s", rate, args.floor,
                             reference=statistics.median(r["rate"] for r in bare) if bare else None,
                             reference_name="bare aiohttp")]
    passed &= floors[0]["passed"]
    rates = {f"Verihook (--dispatchers {count})": statistics.median(r["rate"] for r in ok)
             for count in counts if (ok := [r for r in results["verihook"].get(str(count), []) if not r["timed_out"]])}
    rates |= {("Celery" if c == "celery" else f"bare {c}"): statistics.median(r["rate"] for r in runs)
              for c, runs in results["baselines"].items()}
    benchkit.record("publish_deliver", info, floors, rates=rates, unit="events/s", runs=args.repeat,
                    extra={"events": args.events, "celery_requests": args.celery_requests})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if passed else 1


def report(results: dict[str, Any], counts: list[int], baselines: list[str], events: int, floor: float
           ) -> tuple[str, bool]:
    table = benchkit.Table()
    passed = True
    rates = {client: statistics.median(r["rate"] for r in runs) for client, runs in results["baselines"].items()}
    headline = rates.get(baselines[0]) if baselines else None
    for count in counts:
        runs = [r for r in results["verihook"].get(str(count), []) if not r["timed_out"]]
        name = f"--dispatchers {count}"
        if not runs:
            table.add(f"publish and deliver, events/s ({name})", "timed out", headline, "", False)
            passed = False
            continue
        rate = statistics.median(r["rate"] for r in runs)
        judged = count == (JUDGED if JUDGED in counts else counts[-1])  # the others are shown, not judged
        ok = headline is not None and rate >= floor * headline if judged else None
        complete = all(r["statuses"] == {"succeeded": events} and r["attempts"] == events == r["ok_attempts"]
                       for r in runs)
        passed &= complete
        table.add(f"publish and deliver, events/s ({name}; baseline bare {baselines[0]})", rate, headline,
                  f">= {floor:g} x" if judged else "-", ok)
        for client in [*baselines[1:], "celery"]:
            if client in rates:
                shown = "Celery + Redis + requests, publish mode" if client == "celery" else f"bare {client}"
                table.add(f"publish and deliver, events/s ({name}; baseline {shown})", rate, rates[client])
        table.add(f"publishing alone, events/s ({name})", statistics.median(r["publish_rate"] for r in runs), None)
        table.add(f"CPU per event, µs, API and dispatchers ({name})",
                  statistics.median(r["cpu_us_per_event"] for r in runs), None)
        last = runs[-1]
        table.add(f"succeeded deliveries / attempt rows ({name})",
                  f"{last['statuses'].get('succeeded', 0):,} / {last['attempts']:,}", None,
                  f"{events:,} / {events:,}", complete)
    return table.render(), passed


if __name__ == "__main__":
    sys.exit(main())
