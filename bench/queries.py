"""Query benchmark: event and subject queries with delivery-status filters over a large store.

    python bench/queries.py --events 1000000 --subjects 20000 [--requests 200] [--keep DIR]
                            [--database-url postgresql://127.0.0.1/EMPTY_DB]

1. `verihook api` (no dispatcher) on a fresh SQLite file, or on the empty PostgreSQL database of --database-url:
   one tenant, one endpoint, `--subjects` subjects, and `--events` events spread over them (each event has one
   delivery), published through POST /v1/events/batch.
2. The API is stopped and the deliveries are given the statuses a store in use has (delivering a million takes
   minutes and is drain.py's job): 97 % succeeded, 2 % failed, 1 % pending with a retry far in the future
   (nothing becomes due). Spread by rowid (PostgreSQL: id order), so every page of the newest events holds each status.
3. `verihook api` starts again on that file; each query is asked `--requests` times in a row over one keep-alive
   connection, and its latency (p50, p95, max) is printed beside the baseline measured in the same run: the round
   trip of `GET /healthz` on the same process (HTTP and routing, no store).

Target (issue 14): p95 <= 50 ms for every query (goal 20 ms), printed as a PASS/FAIL line each. Exits 1 when one
is over. Appends the figures to bench/results.jsonl (bench/plot.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import benchkit
import uvloop

TARGET_P95_MS = 50.0
BATCH = 1000
PUBLISHERS = 2


async def build(api_base: str, events: int, subjects: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        admin = benchkit.Api(api_base, session)
        tenant_id, key, _ = await admin.tenant_with_endpoint("http://127.0.0.1:9/never-called")
        api = admin.as_key(key)
        start = time.perf_counter()
        subject_ids = [f"val-{n:06d}" for n in range(subjects)]
        queue = list(subject_ids)

        async def make_subjects() -> None:
            while queue:
                subject_id = queue.pop()
                await api.post("/v1/subjects", {"kind": "validation", "id": subject_id, "status": "on-course"})

        await asyncio.gather(*(make_subjects() for _ in range(8)))
        batches = list(range(0, events, BATCH))

        async def publisher() -> None:
            while batches:
                first = batches.pop(0)
                items = [{"type": benchkit.EVENT_TYPE, "subject_id": subject_ids[n % subjects],
                          "data": {**benchkit.EVENT_DATA, "n": n}} for n in range(first, min(first + BATCH, events))]
                await post_unsent_again(api, "/v1/events/batch", {"events": items})

        await asyncio.gather(*(publisher() for _ in range(PUBLISHERS)))
        elapsed = time.perf_counter() - start
        return {"tenant_id": tenant_id, "key": key, "elapsed_s": elapsed, "rate": events / elapsed,
                "subject_ids": subject_ids}


_STATUSES = ("status = CASE WHEN {n} % 100 = 7 THEN 'pending' WHEN {n} % 50 = 3 THEN 'failed' ELSE 'succeeded' END,"
             " attempt_count = 1, next_attempt_at = CASE WHEN {n} % 100 = 7 THEN {far} ELSE NULL END")


async def post_unsent_again(api: benchkit.Api, path: str, body: dict[str, Any]) -> None:
    """POST, once more where the request was never written: a pooled connection the server had just closed for
    idling (twice a build of a million events stopped so, at 4,000 and at 996,000)."""
    try:
        await api.post(path, body)
    except aiohttp.ClientOSError as error:
        if "Can not write request body" not in str(error):
            raise
        await api.post(path, body)


def give_statuses(database: Path, database_url: str | None) -> dict[str, int]:
    far = time.time() + 30 * 86400
    if database_url is not None:
        return uvloop.run(give_postgres_statuses(database_url, far))
    with sqlite3.connect(database) as conn:
        conn.execute(f"UPDATE deliveries SET {_STATUSES.format(n='rowid', far='?')}", (far,))
        rows = conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()
    return dict(rows)


async def give_postgres_statuses(database_url: str, far: float) -> dict[str, int]:
    """As in SQLite, by insertion order (the rows numbered in id order: a batch's ids grow)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE deliveries SET " + _STATUSES.format(n="r.n", far="$1::float8")
                           + " FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM deliveries) r"
                           " WHERE deliveries.id = r.id", far)
        await conn.execute("VACUUM ANALYZE")
        rows = await conn.fetch("SELECT status, count(*) FROM deliveries GROUP BY status")
    finally:
        await conn.close()
    return {row[0]: row[1] for row in rows}


async def measure(api_base: str, key: str, queries: dict[str, str], requests: int) -> dict[str, dict[str, float]]:
    headers = {"Authorization": f"Bearer {key}"}
    figures: dict[str, dict[str, float]] = {}
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        for name, path in queries.items():
            latencies = []
            for _ in range(requests):
                start = time.perf_counter()
                async with session.get(api_base + path, headers=headers) as response:
                    body = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
                latencies.append((time.perf_counter() - start) * 1000)
            figures[name] = {"p50": statistics.median(latencies), "p95": benchkit.percentile(latencies, 95),
                             "max": max(latencies)}
            print(f"  {name}: p50 {figures[name]['p50']:.1f} ms, p95 {figures[name]['p95']:.1f} ms, "
                  f"max {figures[name]['max']:.1f} ms")
    return figures


def the_queries(subject_id: str) -> dict[str, str]:
    queries = {"GET /healthz (baseline)": "/healthz", "events, newest 50": "/v1/events?limit=50"}
    for status in ("succeeded", "failed", "pending", "pending,failed"):
        queries[f"events, delivery_status={status}"] = f"/v1/events?limit=50&delivery_status={status}"
    queries["events of one subject"] = f"/v1/events?limit=50&subject_id={subject_id}"
    queries["subjects, newest 50"] = "/v1/subjects?limit=50"
    for status in ("succeeded", "failed", "pending", "pending,failed"):
        queries[f"subjects, delivery_status={status}"] = f"/v1/subjects?limit=50&delivery_status={status}"
    queries["one subject with its counts"] = f"/v1/subjects/{subject_id}"
    queries["a subject's events"] = f"/v1/subjects/{subject_id}/events"
    return queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200, help="times each query is asked")
    parser.add_argument("--keep", type=Path, help="reuse (or keep) the built store in this folder")
    parser.add_argument("--repeat", type=int, default=1, help="ask every query --requests times, this many rounds; "
                        "the median of each round's p50 / p95 is shown")
    parser.add_argument("--database-url", help="an empty PostgreSQL database instead of a SQLite file (with "
                        "--keep, the same database again)")
    args = parser.parse_args()
    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    with benchkit.workdir(keep=args.keep is not None) as base:
        folder = args.keep or base
        folder.mkdir(parents=True, exist_ok=True)
        database = folder / "queries.db"
        marker = folder / "built.key"
        env = {"VERIHOOK_DATABASE_URL": args.database_url} if args.database_url else None
        if not marker.exists():
            with benchkit.verihook("api", database, extra_env=env) as api:
                built = uvloop.run(build(api.base_url, args.events, args.subjects))
            print(f"built: {args.events:,} events over {args.subjects:,} subjects in {built['elapsed_s']:.0f} s "
                  f"({built['rate']:,.0f} events/s through the API)")
            print(f"statuses: {give_statuses(database, args.database_url)}")
            marker.write_text(f"{built['key']}\n{built['subject_ids'][len(built['subject_ids']) // 2]}\n")
        key, subject_id = marker.read_text().split()
        if args.database_url is None:
            print(f"store: {database.stat().st_size / 1e6:,.0f} MB")
        rounds = []
        with benchkit.verihook("api", database, extra_env=env) as api:
            for round_ in range(args.repeat):
                print(f"round {round_ + 1}:")
                rounds.append(uvloop.run(measure(api.base_url, key, the_queries(subject_id), args.requests)))
    figures = {name: {figure: statistics.median(r[name][figure] for r in rounds) for figure in rounds[0][name]}
               for name in rounds[0]}
    table = benchkit.Table()
    baseline = figures.pop("GET /healthz (baseline)")
    passed = True
    for name, figure in figures.items():
        ok = figure["p95"] <= TARGET_P95_MS
        passed &= ok
        table.add(f"{name}: p95 ms (baseline GET /healthz)", figure["p95"], baseline["p95"],
                  f"<= {TARGET_P95_MS:.0f}", ok, fmt="{:.1f}")
    print(benchkit.load_line("end", os.getloadavg()))
    print(table.render())
    floors = [benchkit.floor(f"{name}, p95", figure["p95"], TARGET_P95_MS, at_most=True, unit=" ms")
              for name, figure in figures.items()]
    benchkit.record("queries", info, floors, runs=args.repeat,
                    extra={"events": args.events, "subjects": args.subjects, "queries_ms": figures,
                           "baseline_ms": baseline})
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
