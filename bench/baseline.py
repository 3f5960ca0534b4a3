"""The baselines: a bare HTTP client loop with no state, no signing and no store, on uvloop.

    python bench/baseline.py drain --url URL --requests N --concurrency C --body FILE [--client aiohttp|pyreqwest]
        N POSTs with C in flight, as fast as they go; prints {"rate", "elapsed_s", "cpu_s", ...} as JSON.
    python bench/baseline.py rate --url URL --requests N --rate R --body FILE [--id-prefix P]
        N POSTs started at a steady R per second (open loop: a slow answer does not delay the next request),
        each with an `x-bench-id` header; prints the send time and round-trip latency of each as JSON.

The drivers (drain.py, latency.py) run it in a child process so that it has a core's worth of Python to itself,
as Verihook does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

TIMEOUT_S = 15.0
Post = Callable[[bytes, dict[str, str]], Awaitable[int]]


async def make_client(kind: str, url: str, concurrency: int) -> tuple[Post, Callable[[], Awaitable[None]]]:
    """A `post(body, headers) -> status` function for the client `kind`, and its close function."""
    if kind == "aiohttp":
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency), timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            skip_auto_headers=("Accept-Encoding",), auto_decompress=False)

        async def post_aiohttp(body: bytes, headers: dict[str, str]) -> int:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status

        return post_aiohttp, session.close
    if kind == "pyreqwest":
        from pyreqwest.client import ClientBuilder

        client = ClientBuilder().follow_redirects(False).no_proxy().max_connections(concurrency).build()
        timeout = timedelta(seconds=TIMEOUT_S)

        async def post_pyreqwest(body: bytes, headers: dict[str, str]) -> int:
            request = client.post(url).headers(headers).body_bytes(body).timeout(timeout).build()
            response = await request.send()
            await response.bytes()
            return response.status

        return post_pyreqwest, client.close
    raise SystemExit(f"unknown client {kind!r}")


async def drain(args: argparse.Namespace, body: bytes) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    post, close = await make_client(args.client, args.url, args.concurrency)
    remaining = args.requests
    statuses: dict[int, int] = {}
    errors = 0

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            try:
                status = await post(body, headers)
            except Exception:
                errors += 1
                continue
            statuses[status] = statuses.get(status, 0) + 1

    await post(body, headers)  # one request first, so that the timing below is of the loop alone
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await close()
    return {"client": args.client, "requests": args.requests, "concurrency": args.concurrency,
            "body_bytes": len(body), "statuses": statuses, "errors": errors, "elapsed_s": elapsed,
            "rate": args.requests / elapsed, "cpu_s": cpu, "cpu_us_per_request": cpu / args.requests * 1e6}


async def rate(args: argparse.Namespace, body: bytes) -> dict[str, Any]:
    post, close = await make_client(args.client, args.url, args.concurrency)
    sent: dict[str, float] = {}
    latency_ms: list[float] = []
    lag_ms: list[float] = []
    errors = 0

    async def one(index: int) -> None:
        nonlocal errors
        key = f"{args.id_prefix}{index}"
        headers = {"content-type": "application/json", "x-bench-id": key}
        sent[key] = time.time()
        start = time.perf_counter()
        try:
            status = await post(body, headers)
        except Exception:
            errors += 1
            return
        latency_ms.append((time.perf_counter() - start) * 1000)
        if status != 200:
            errors += 1

    await post(body, {"content-type": "application/json"})  # connect first, as Verihook does while warming up
    tasks = []
    t0 = time.perf_counter()
    for index in range(args.requests):
        due = t0 + index / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lag_ms.append((time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    await close()
    return {"client": args.client, "requests": args.requests, "rate": args.rate, "achieved_rate":
            args.requests / elapsed, "errors": errors, "sent": sent, "latency_ms": latency_ms,
            "max_schedule_lag_ms": max(lag_ms, default=0.0)}


def main() -> int:
    root = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = root.add_subparsers(dest="mode", required=True)
    for name in ("drain", "rate"):
        sub = modes.add_parser(name)
        sub.add_argument("--url", required=True)
        sub.add_argument("--requests", type=int, required=True)
        sub.add_argument("--body", required=True, help="a file holding the request body")
        sub.add_argument("--client", choices=("aiohttp", "pyreqwest"), default="aiohttp")
        sub.add_argument("--concurrency", type=int, default=64 if name == "drain" else 256)
        if name == "rate":
            sub.add_argument("--rate", type=float, required=True, help="requests started per second")
            sub.add_argument("--id-prefix", default="base-")
    args = root.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        raise SystemExit("the baseline only sends to http://127.0.0.1:PORT")
    body = Path(args.body).read_bytes()
    result = uvloop.run(drain(args, body) if args.mode == "drain" else rate(args, body))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
