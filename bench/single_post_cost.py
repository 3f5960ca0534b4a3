"""Diagnostic: what one `POST /v1/events` (a single event) costs `verihook api` alone, no dispatcher.

    python bench/single_post_cost.py --posts 5000 [--py-spy FILE]

Starts `verihook api` on a fresh SQLite file, makes a tenant with one endpoint (so each event also writes one
delivery), posts --posts single events 16 at a time after 500 of warm-up, and prints the posts per second and the
API process's CPU per post (`/proc`). With --py-spy, every thread is sampled meanwhile (bench/pyspy_top.py
summarises the profile). The latency benchmark's single-POST runs are bounded by this figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import aiohttp
import benchkit

CONCURRENCY = 16
WARM_UP = 500


async def post_events(base_url: str, pid: int, posts: int, profile: Path | None) -> tuple[float, float]:
    async with aiohttp.ClientSession() as session:
        admin = benchkit.Api(base_url, session)
        _, key, _ = await admin.tenant_with_endpoint("http://127.0.0.1:9/never-called")
        tenant = admin.as_key(key)
        room = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int) -> None:
            async with room:
                await tenant.post("/v1/events", {"type": "order.created", "data": {"n": n, "note": "x" * 100}})

        await asyncio.gather(*(one(n) for n in range(WARM_UP)))
        cpu_before, started = benchkit.cpu_seconds(pid), time.perf_counter()
        with benchkit.py_spy(pid, profile, gil=False):
            await asyncio.gather(*(one(n) for n in range(posts)))
        elapsed, cpu = time.perf_counter() - started, benchkit.cpu_seconds(pid) - cpu_before
        return posts / elapsed, 1e6 * cpu / posts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--py-spy", type=Path, help="write a py-spy profile of the API process here")
    args = parser.parse_args()
    benchkit.print_machine(benchkit.machine(), "python " + " ".join(sys.argv))
    with benchkit.workdir() as base, benchkit.verihook("api", base / "verihook.db") as api:
        rate, cpu_us = asyncio.run(post_events(api.base_url, api.process.pid, args.posts, args.py_spy))
    print(f"{args.posts:,} single POST /v1/events, {CONCURRENCY} at a time: {rate:,.0f} posts/s, "
          f"{cpu_us:,.0f} µs CPU of the API process per post")
    print(benchkit.load_line("end", os.getloadavg()))


if __name__ == "__main__":
    main()
