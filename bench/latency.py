"""Latency benchmark: publish-to-received time at a steady rate, against one `verihook serve` process on SQLite.

    python bench/latency.py --rate 500 --seconds 20

1. bench/receiver.py (aiohttp, its own process) answers 200 and records time.time() as each request arrives,
   keyed by `webhook-id` (Verihook's event id) or `x-bench-id` (the baseline).
2. Baseline: bench/baseline.py, a bare aiohttp loop on uvloop, starts requests of the same body size at the same
   steady rate (open loop) to the same receiver; its round-trip latency per request is the baseline, and its
   send-to-arrival time is shown too.
3. Verihook: `verihook serve` on a fresh SQLite file, one tenant with one endpoint (the receiver). After a
   warm-up (not counted), this script publishes events with POST /v1/events at the same steady rate (open loop:
   a slow answer does not delay the next event), taking time.time() just before each request. The latency of an
   event is its arrival time at the receiver minus that publish time. Both are read from CLOCK_REALTIME of this
   one machine, so they compare directly.

Prints figure | Verihook | baseline | ratio | target | pass/fail; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import benchkit
import proctree
import uvloop

TARGET_P99_MS = 50.0
ARRIVAL_WAIT_S = 30.0  # how long to wait for the last webhooks after the last publish


async def publish_at_rate(api: benchkit.Api, rate: float, count: int, offset: int) -> dict[str, Any]:
    """Publish `count` events at `rate` per second; answers each event's publish time and the API latencies."""
    published: dict[str, float] = {}
    api_ms: list[float] = []
    lag_ms: list[float] = []
    errors: list[str] = []

    async def one(index: int) -> None:
        body = {"type": benchkit.EVENT_TYPE, "data": {**benchkit.EVENT_DATA, "n": offset + index}}
        at = time.time()
        start = time.perf_counter()
        try:
            answer = await api.post("/v1/events", body)
        except Exception as error:
            errors.append(str(error))
            return
        api_ms.append((time.perf_counter() - start) * 1000)
        published[answer["id"]] = at

    tasks = []
    t0 = time.perf_counter()
    for index in range(count):
        due = t0 + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lag_ms.append((time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    return {"published": published, "api_ms": api_ms, "errors": errors,
            "achieved_rate": count / (time.perf_counter() - t0), "max_schedule_lag_ms": max(lag_ms, default=0.0)}


async def wait_arrivals(receiver: benchkit.TimingReceiver, session: aiohttp.ClientSession, count: int) -> None:
    deadline = time.monotonic() + ARRIVAL_WAIT_S
    while await receiver.count(session) < count and time.monotonic() < deadline:  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.1)


async def measure_verihook(base_url: str, pid: int, receiver: benchkit.TimingReceiver, rate: float, events: int,
                           warmup: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        admin = benchkit.Api(base_url, session)
        _, key, _ = await admin.tenant_with_endpoint(receiver.url)
        api = admin.as_key(key)
        if warmup:
            await publish_at_rate(api, rate, warmup, 0)
            await wait_arrivals(receiver, session, warmup)
        await receiver.take(session)
        cpu_before = proctree.cpu_seconds(pid)  # with its dispatcher processes
        run = await publish_at_rate(api, rate, events, warmup)
        await wait_arrivals(receiver, session, len(run["published"]))
        cpu = proctree.cpu_seconds(pid) - cpu_before
        arrivals = await receiver.take(session)
    latencies = [(arrivals[event_id] - at) * 1000 for event_id, at in run["published"].items() if event_id in arrivals]
    return {**run, "latency_ms": latencies, "delivered": len(latencies), "published": len(run["published"]),
            "cpu_us_per_event": cpu / events * 1e6}


async def take_arrivals(receiver: benchkit.TimingReceiver) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        return await receiver.take(session)


def summary(values: list[float]) -> dict[str, float]:
    return {f"p{q}": benchkit.percentile(values, q) for q in (50, 95, 99)} | {"max": max(values, default=float("nan"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0, help="events published per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to publish (events = rate x seconds)")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="publishing before the measurement, not counted")
    parser.add_argument("--transport", default="", help="VERIHOOK_TRANSPORT for Verihook (default: its own)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the Verihook process, e.g. VERIHOOK_MAX_IN_FLIGHT=2048")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=VALUE+...",
                        help="measure Verihook once more with these settings added, in the same run (repeatable), "
                        "e.g. VERIHOOK_BENCH_PATCHES=auth_cache,async_deps (see bench/patches)")
    parser.add_argument("--target-p99-ms", type=float, default=TARGET_P99_MS)
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--py-spy", metavar="FILE", type=Path,
                        help="profile the first serve process with py-spy into FILE (collapsed stacks; adds load)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (database, logs)")
    args = parser.parse_args()
    events = round(args.rate * args.seconds)
    warmup = round(args.rate * args.warmup_s)
    env = benchkit.parse_env(args.env)
    variants = {"": env} | {label: {**env, **benchkit.parse_env(label.split("+"))} for label in args.variant}

    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    results: dict[str, Any] = {"machine": info, "args": vars(args), "verihook": {}}
    with benchkit.workdir(args.keep) as base, benchkit.timing_receiver(base) as receiver:
        body = base / "body.json"
        body.write_bytes(benchkit.sample_body())
        timeout_s = args.seconds * 3 + 60
        baseline = benchkit.run_baseline(
            ["rate", "--url", receiver.url, "--requests", str(events), "--rate", str(args.rate), "--body", str(body)],
            timeout_s)
        arrivals = uvloop.run(take_arrivals(receiver))
        one_way = [(arrivals[key] - at) * 1000 for key, at in baseline["sent"].items() if key in arrivals]
        results["baseline"] = {"round_trip_ms": summary(baseline["latency_ms"]), "one_way_ms": summary(one_way),
                               "errors": baseline["errors"], "achieved_rate": baseline["achieved_rate"],
                               "max_schedule_lag_ms": baseline["max_schedule_lag_ms"]}
        print(f"baseline: {events:,} requests at {baseline['achieved_rate']:,.0f}/s, {baseline['errors']} errors, "
              f"max schedule lag {baseline['max_schedule_lag_ms']:.1f} ms")

        for index, (label, variant_env) in enumerate(variants.items()):
            database = base / f"verihook-{index}.db"
            profile = args.py_spy if index == 0 else None
            with benchkit.verihook("serve", database, transport=args.transport or None,
                                   extra_env=variant_env) as proc, benchkit.py_spy(proc.process.pid, profile):
                run = uvloop.run(measure_verihook(proc.base_url, proc.process.pid, receiver, args.rate, events,
                                                  warmup))
            results["verihook"][label] = {
                "latency_ms": summary(run["latency_ms"]), "api_ms": summary(run["api_ms"]),
                "published": run["published"], "delivered": run["delivered"], "errors": run["errors"][:10],
                "achieved_rate": run["achieved_rate"], "max_schedule_lag_ms": run["max_schedule_lag_ms"],
                "cpu_us_per_event": run["cpu_us_per_event"]}
            print(f"Verihook{' (' + label + ')' if label else ''}: {run['published']:,} events published at "
                  f"{run['achieved_rate']:,.0f}/s (after {warmup:,} of warm-up), {len(run['errors'])} publish "
                  f"errors, {run['delivered']:,} received, max schedule lag {run['max_schedule_lag_ms']:.1f} ms")

    results["loadavg_end"] = list(os.getloadavg())
    table, passed = report(results, events, args.target_p99_ms)
    print()
    print(table)
    print("baseline one-way (send -> arrival), ms: " + ", ".join(
        f"{k} {v:.2f}" for k, v in results["baseline"]["one_way_ms"].items()))
    print(benchkit.load_line("end", results["loadavg_end"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if passed else 1


def report(results: dict[str, Any], events: int, target_p99_ms: float) -> tuple[str, bool]:
    base = results["baseline"]
    table = benchkit.Table()
    passed = True
    for label, ours in results["verihook"].items():
        suffix = f" [{label}]" if label else ""
        headline = not label  # the first, unchanged Verihook decides pass/fail; variants are experiments
        for key in ("p50", "p95", "p99", "max"):
            ok = None
            target = "-"
            if key == "p99":
                ok = ours["latency_ms"][key] <= target_p99_ms
                target = f"<= {target_p99_ms:g}"
                passed &= ok or not headline
            table.add(f"publish-to-received {key}, ms{suffix} (baseline: bare aiohttp round trip)",
                      ours["latency_ms"][key], base["round_trip_ms"][key], target, ok, fmt="{:.2f}")
        complete = ours["delivered"] == events and not ours["errors"]
        passed &= complete or not headline
        table.add(f"events published / received{suffix}", f"{ours['published']:,} / {ours['delivered']:,}", None,
                  f"{events:,} / {events:,}", complete)
        for key in ("p50", "p99"):
            table.add(f"POST /v1/events answer {key}, ms{suffix}", ours["api_ms"][key], None, fmt="{:.2f}")
        table.add(f"achieved publish rate, per second{suffix}", ours["achieved_rate"], base["achieved_rate"])
        table.add(f"serve CPU per event (publish + delivery, all its processes), µs{suffix}",
                  ours["cpu_us_per_event"], None)
    return table.render(), passed


if __name__ == "__main__":
    sys.exit(main())
