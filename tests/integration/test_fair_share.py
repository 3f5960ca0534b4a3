"""A tenant whose receivers hang, answer slowly or trickle their answer costs only itself: every other tenant's
deliveries (and the same tenant's healthy endpoints') leave at once.

The careless tenant's backlog is published first, so its deliveries are older than the others' and come first in
due order: the worst case for the others. Its receivers are real sockets on 127.0.0.1 (tests/support/
bad_receivers.py) that accept the connection and then never answer, or answer one byte a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.bad_receivers import Hanging, Trickling
from tests.support.raw_server import RawServer
from tests.support.receivers import Answer, Receiver
from tests.support.server import ADMIN_KEY

TIMEOUT_S = 30
WITHIN_S = 2.0  # the healthy tenant's deliveries all arrive within this long of being published
HEALTHY_EVENTS = 100


async def publish(api: Api, count: int, type: str = "kyc.checked") -> None:
    for start in range(0, count, 100):
        items = [{"type": type, "data": {"n": n}} for n in range(start, min(count, start + 100))]
        (await api.post("/v1/events/batch", {"events": items})).ok()


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.02)


async def time_to_deliver(api: Api, receiver: Receiver, count: int = HEALTHY_EVENTS) -> float:
    started = time.monotonic()
    await publish(api, count)
    await receiver.wait_for(count, timeout=20)
    return time.monotonic() - started


async def careless_tenant(admin: Api, receivers: list[Any], events_each: int, **endpoint: Any) -> Api:
    careless = await admin.as_new_tenant("careless")
    for bad in receivers:
        await careless.endpoint(bad.url + "/hook", timeout_s=TIMEOUT_S, **endpoint)
    await publish(careless, events_each)  # every event goes to each of its endpoints
    return careless


async def stop_all(receivers: list[Any]) -> None:
    await asyncio.gather(*(r.stop() for r in receivers))


@pytest.mark.parametrize(("kind", "count"), [(Hanging, 5), (Trickling, 4)], ids=["hanging", "trickling"])
@pytest.mark.timeout(90)
async def test_endpoints_that_never_finish_answering_cost_another_tenant_nothing(
        admin: Api, kind: type[RawServer], count: int) -> None:
    """The probe's scenario: receivers that accept and never answer (or answer a byte a second), 150 events
    each, timeout 30 s; another tenant's deliveries are published after theirs."""
    bad: list[RawServer] = [await kind().start() for _ in range(count)]
    healthy = await Receiver().start()
    try:
        await careless_tenant(admin, bad, 150)
        await eventually(lambda: all(b.requests for b in bad))
        other = await admin.as_new_tenant("other")
        await other.endpoint(healthy.url + "/hook")
        elapsed = await time_to_deliver(other, healthy)
        assert elapsed < WITHIN_S, f"the other tenant's {HEALTHY_EVENTS} deliveries took {elapsed:.2f} s"
        # a destination that never answered got no more than its first window of sends: the rest waits unsent
        assert sum(len(b.requests) for b in bad) <= count * 8
    finally:
        await stop_all([*bad, healthy])


@pytest.mark.timeout(90)
async def test_hanging_endpoints_cost_the_same_tenants_healthy_endpoint_nothing(admin: Api) -> None:
    hanging: list[RawServer] = [await Hanging().start() for _ in range(5)]
    healthy = await Receiver().start()
    try:
        careless = await careless_tenant(admin, hanging, 150, event_types=["kyc.checked"])
        await eventually(lambda: all(h.requests for h in hanging))
        await careless.endpoint(healthy.url + "/hook", event_types=["kyc.healthy"])
        started = time.monotonic()
        await publish(careless, HEALTHY_EVENTS, type="kyc.healthy")
        await healthy.wait_for(HEALTHY_EVENTS, timeout=20)
        assert time.monotonic() - started < WITHIN_S
    finally:
        await stop_all([*hanging, healthy])


@pytest.mark.timeout(90)
async def test_slow_receivers_across_several_tenants_cost_another_tenant_nothing(admin: Api) -> None:
    """Three tenants, three endpoints each, every answer taking 1.5 s: they fill what they are given of the room
    with sends that do finish; a fourth tenant still gets its share at once."""
    slow: list[Receiver] = []
    try:
        for name in ("slow-a", "slow-b", "slow-c"):
            tenant = await admin.as_new_tenant(name)
            for _ in range(3):
                receiver = await Receiver([Answer(delay_s=1.5)]).start()
                slow.append(receiver)
                await tenant.endpoint(receiver.url + "/hook", timeout_s=TIMEOUT_S)
            await publish(tenant, 300)
        await eventually(lambda: sum(len(r.requests) for r in slow) >= 9 * 16)  # their windows have grown
        healthy = await Receiver().start()
        slow.append(healthy)
        other = await admin.as_new_tenant("other")
        await other.endpoint(healthy.url + "/hook")
        elapsed = await time_to_deliver(other, healthy)
        assert elapsed < WITHIN_S, f"the other tenant's {HEALTHY_EVENTS} deliveries took {elapsed:.2f} s"
    finally:
        await stop_all(slow)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_hanging_endpoints_cost_nothing_with_two_workers_on_postgresql(
        pg_databases: pg.TestDatabases, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """Each worker has a room of its own: ten hanging endpoints would fill both rooms without fair shares."""
    url = pg_databases.create()
    hanging: list[RawServer] = [await Hanging().start() for _ in range(10)]
    healthy = await Receiver().start()
    fleet = pg.Fleet(url, tmp_path)
    try:
        api, *_ = await asyncio.gather(fleet.start("api"), fleet.start("worker"), fleet.start("worker"))
        admin = Api(api.base_url, ADMIN_KEY, http)
        await careless_tenant(admin, hanging, 150)
        await eventually(lambda: all(h.requests for h in hanging), timeout=20)
        other = await admin.as_new_tenant("other")
        await other.endpoint(healthy.url + "/hook")
        elapsed = await time_to_deliver(other, healthy)
        assert elapsed < WITHIN_S, f"{elapsed:.2f} s\n{fleet.logs()}"
    finally:
        await stop_all([*hanging, healthy])
        fleet.stop()
        pg_databases.drop(url)
