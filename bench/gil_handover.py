"""Diagnostic: what a Python thread competing for the GIL does to calls on the event loop's path.

    python bench/gil_handover.py [--requests 10000]

Not a target benchmark. It shows two things that decide how fast one Verihook process drains (bench/RESULTS.md,
2026-11-30):

  signing    one Standard Webhooks signature (300-byte body) by three HMAC routes, each with and without a busy
             Python thread beside it (switch interval 0.5 ms): a call that lets go of the GIL waits for it again
  pyreqwest  a bare pyreqwest loop (64 in flight) to a local nginx, alone and with a busy Python thread, at several
             switch intervals: every answer is handed to the loop by pyreqwest's thread, which needs the GIL
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import benchkit
import uvloop

BODY = b"x" * 300
KEY = b"k" * 24
CALLS = 2000
SWITCH_INTERVALS_S = (0.0005, 0.0002, 0.0001, 0.00005)


@contextlib.contextmanager
def busy_thread(on: bool) -> Iterator[None]:
    """A thread running Python without pause, as the event loop does under load."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    thread = threading.Thread(target=spin, daemon=True)
    if on:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if on:
            thread.join()


def per_call_us(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(CALLS):
        fn()
    return (time.perf_counter() - start) / CALLS * 1e6


def signing() -> None:
    keyed = hmac.new(KEY, digestmod=hashlib.sha256)

    def copy_of_keyed() -> bytes:
        mac = keyed.copy()
        mac.update(BODY)
        return mac.digest()

    routes: dict[str, Callable[[], object]] = {
        "hmac.digest(key, msg, 'sha256') (one-shot)": lambda: hmac.digest(KEY, BODY, "sha256"),
        "hmac.new(key, msg, 'sha256').digest()": lambda: hmac.new(KEY, BODY, "sha256").digest(),
        "copy of a keyed HMAC (Verihook)": copy_of_keyed,
    }
    sys.setswitchinterval(0.0005)
    print("| signature route | alone, µs a call | beside a busy thread, µs a call |")
    print("|---|---|---|")
    for name, route in routes.items():
        with busy_thread(False):
            alone = per_call_us(route)
        with busy_thread(True):
            contended = per_call_us(route)
        print(f"| {name} | {alone:.1f} | {contended:.1f} |")


async def pyreqwest_rate(url: str, requests: int) -> float:
    from pyreqwest.client import ClientBuilder

    client = ClientBuilder().follow_redirects(False).no_proxy().build()
    timeout = timedelta(seconds=15)
    headers = [("content-type", "application/json")]
    left = requests

    async def one() -> None:
        async with client.request("POST", url).headers(headers).body_bytes(BODY).timeout(timeout).build_streamed(
                ) as response:
            await response.body_reader.read(65536)

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    await one()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(64)))
    rate = requests / (time.perf_counter() - start)
    await client.close()
    return rate


def pyreqwest_loops(url: str, requests: int) -> None:
    print("| switch interval | bare pyreqwest alone, requests/s | beside a busy thread, requests/s |")
    print("|---|---|---|")
    for interval in SWITCH_INTERVALS_S:
        sys.setswitchinterval(interval)
        with busy_thread(False):
            alone = uvloop.run(pyreqwest_rate(url, requests))
        with busy_thread(True):
            contended = uvloop.run(pyreqwest_rate(url, requests // 4))
        print(f"| {interval * 1000:g} ms | {alone:,.0f} | {contended:,.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()
    info = benchkit.machine()
    benchkit.print_machine(info, "python bench/gil_handover.py " + " ".join(sys.argv[1:]))
    signing()
    print()
    with benchkit.workdir() as base, benchkit.nginx(Path(base)) as url:
        pyreqwest_loops(url, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
