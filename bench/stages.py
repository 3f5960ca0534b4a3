"""Where a delivery's CPU goes: each stage of the dispatcher's hot path timed on its own, in this process.

    python bench/stages.py --events 20000

Not a target benchmark (drain.py is): a diagnostic for when drain.py misses. It builds a backlog through the
service layer on a fresh SQLite file (one tenant, one endpoint: a local nginx), then measures, per delivery,
the process CPU (all threads) and the wall time of:

  claim        store.claim_due in batches of 512 (the join, the lease update, one commit per batch)
  prepare      targets + Sender.send with a transport that answers 200 at once (render, sign, headers, redact)
  record       store.record_results in batches of 1,000 (attempt rows + delivery updates, one commit per batch)
  dispatcher   the whole Dispatcher on a second backlog with that instant transport: Verihook's ceiling without HTTP
  transport    PyreqwestTransport.send / AiohttpTransport.send to nginx, 64 in flight, against the bare clients

It reaches into internal APIs (store, dispatcher, transports); if those change, this script changes with them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import benchkit
import uvloop

from verihook.config import DispatcherSettings, Settings
from verihook.delivery.auth import Authenticator
from verihook.delivery.destinations import Destinations
from verihook.delivery.dispatcher import Dispatcher
from verihook.delivery.sender import Sender, excerpt
from verihook.delivery.transport import (
    AiohttpTransport,
    OutboundRequest,
    Outcome,
    PyreqwestTransport,
)
from verihook.metrics import Metrics
from verihook.model import Attempt, DeliveryResult, DeliveryStatus, DueDelivery
from verihook.profiles import default_registry
from verihook.runtime import build_runtime
from verihook.service import ADMIN, EventInput

OK_HEADERS = {"content-type": "application/json", "content-length": "11", "server": "nginx"}
IN_FLIGHT = 64


class InstantTransport:
    """Answers 200 {"ok":true} at once: the hot path without HTTP."""

    async def send(self, request: OutboundRequest) -> Outcome:
        return Outcome(200, dict(OK_HEADERS), b'{"ok":true}', 0.1)

    async def aclose(self) -> None:
        return None


class Clock:
    """CPU (all threads of this process) and wall time of a block, per item."""

    def __init__(self, name: str, items: int) -> None:
        self.name, self.items = name, items

    def __enter__(self) -> Clock:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        cpu = (time.process_time() - self.cpu) / self.items * 1e6
        wall = (time.perf_counter() - self.wall) / self.items * 1e6
        print(f"{self.name:<46} {cpu:8.1f} µs CPU  {wall:8.1f} µs wall  per delivery")


async def backlog(runtime: Any, caller: Any, events: int) -> None:
    for start in range(0, events, 1000):
        items = [EventInput(type=benchkit.EVENT_TYPE, data={**benchkit.EVENT_DATA, "n": start + i})
                 for i in range(min(1000, events - start))]
        await runtime.service.events.publish(caller, items)


async def gather_bounded(count: int, one: Callable[[], Awaitable[None]]) -> None:
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def transports(url: str, events: int, body: bytes) -> None:
    headers = [("content-type", "application/json")]
    request = OutboundRequest(url=url, headers=headers, body=body, timeout_s=15.0)
    for name, transport in (("transport: PyreqwestTransport.send", PyreqwestTransport(allow_private_targets=True)),
                            ("transport: AiohttpTransport.send", AiohttpTransport(allow_private_targets=True))):
        async def send(transport: Any = transport) -> None:
            outcome = await transport.send(request)
            assert outcome.status_code == 200, outcome

        await gather_bounded(IN_FLIGHT, send)
        with Clock(name, events):
            await gather_bounded(events, send)
        await transport.aclose()

    from pyreqwest.client import ClientBuilder

    client = ClientBuilder().follow_redirects(False).no_proxy().build()
    timeout = timedelta(seconds=15)

    async def bare_pyreqwest() -> None:
        response = await client.post(url).headers(headers).body_bytes(body).timeout(timeout).build().send()
        await response.bytes()

    await gather_bounded(IN_FLIGHT, bare_pyreqwest)
    with Clock("transport: bare pyreqwest", events):
        await gather_bounded(events, bare_pyreqwest)
    await client.close()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:
        async def bare_aiohttp() -> None:
            async with session.post(url, data=body, headers=dict(headers)) as response:
                await response.read()

        await gather_bounded(IN_FLIGHT, bare_aiohttp)
        with Clock("transport: bare aiohttp", events):
            await gather_bounded(events, bare_aiohttp)


async def stages(base: Path, url: str, events: int, dispatcher_changes: dict[str, float], repeat: int) -> None:
    settings = Settings(database_url=f"sqlite:///{base / 'stages.db'}", admin_key=benchkit.ADMIN_KEY,
                        secret_key=benchkit.SECRET_KEY, allow_private_targets=True)
    settings = settings.with_(dispatcher=dataclasses.replace(settings.dispatcher, **dispatcher_changes))
    runtime = await build_runtime(settings)
    try:
        made = await runtime.service.tenants.create(ADMIN, "bench", None, None, False)
        caller = await runtime.service.authenticate(made.api_key)
        await runtime.service.endpoints.create(caller, {"url": url})
        store = runtime.store
        with Clock(f"publish (service, batches of 1000), {events:,}", events):
            await backlog(runtime, caller, events)

        claimed: list[DueDelivery] = []
        with Clock("claim: store.claim_due, 512 a batch", events):
            while len(claimed) < events:
                batch = await store.claim_due(time.time(), 512)
                if not batch:
                    break
                claimed += batch

        targets = Destinations(store, default_registry())
        sender = Sender(InstantTransport(), Authenticator(InstantTransport()))
        sent = []
        from verihook.delivery.dispatcher import _message

        with Clock("prepare: targets + Sender.send (instant transport)", events):
            for due in claimed:
                target = await targets.for_delivery(due)
                sent.append(await sender.send(target, target.url or due.url, _message(due)))

        now = time.time()
        results = [DeliveryResult(
            delivery_id=due.id, event_id=due.event_id, status=DeliveryStatus.SUCCEEDED, next_attempt_at=None,
            attempt=Attempt(delivery_id=due.id, number=1, at=now, status_code=200, latency_ms=0.1, error=None,
                            error_detail=None, request_headers=s.request_headers,
                            response_headers=s.outcome.headers, response_body=excerpt(s.outcome.body)))
            for due, s in zip(claimed, sent, strict=True)]
        with Clock("record: store.record_results, 1000 a batch", events):
            for start in range(0, len(results), 1000):
                await store.record_results(results[start:start + 1000], time.time())

        changed = ", ".join(f"{k}={v:g}" for k, v in dispatcher_changes.items()) or "default settings"
        for run in range(repeat):
            await backlog(runtime, caller, events)
            dispatcher = Dispatcher(store, sender, targets, settings.dispatcher, Metrics())
            with Clock(f"dispatcher: whole loop, instant transport ({changed}) #{run + 1}", events):
                task = asyncio.create_task(dispatcher.run())
                while (await store.queue_stats()).pending:  # noqa: ASYNC110 - the state is in the database
                    await asyncio.sleep(0.01)
            await dispatcher.stop()
            await task
    finally:
        await runtime.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--dispatcher", action="append", default=[], metavar="NAME=VALUE",
                        help="a DispatcherSettings field for the dispatcher stage, e.g. flush_batch=256 (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the dispatcher stage (it varies run to run)")
    parser.add_argument("--skip-transports", action="store_true", help="leave out the transport stages")
    args = parser.parse_args()
    changes = {name: float(value) for name, _, value in (item.partition("=") for item in args.dispatcher)}
    fields = {f.name: f.type for f in dataclasses.fields(DispatcherSettings)}
    for name in changes:
        if name not in fields:
            raise SystemExit(f"no dispatcher setting {name!r}; there are {', '.join(fields)}")
        if fields[name] in ("int", int):
            changes[name] = int(changes[name])
    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    with tempfile.TemporaryDirectory(prefix="verihook-stages-") as folder, benchkit.nginx(Path(folder)) as url:
        body = benchkit.sample_body()
        uvloop.run(stages(Path(folder), url, args.events, changes, args.repeat))
        if not args.skip_transports:
            uvloop.run(transports(url, args.events, body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
