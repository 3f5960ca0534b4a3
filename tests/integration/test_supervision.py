"""Side tasks under a monitor, and stalls an operator's probe can see.

Each side task of the dispatcher (the flusher, the lease renewer, the pacer, and on PostgreSQL the LISTEN task) is
killed while deliveries flow: `/readyz` answers 503 naming it until it is back, it comes back by itself, the
restart is counted in /metrics, and every delivery is still made and recorded once.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.bad_receivers import Hanging
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY, Running, running_verihook, settings_for_tests
from verihook.config import DispatcherSettings
from verihook.delivery.dispatcher import STALLED_PER_ROOM

SIDE_TASKS = ["verihook-flusher", "verihook-lease-renewer", "verihook-pacer"]


async def publish(api: Api, count: int) -> list[str]:
    items = [{"type": "kyc.checked", "data": {"n": n}} for n in range(count)]
    return [event["id"] for event in (await api.post("/v1/events/batch", {"events": items})).ok()["data"]]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_each_side_task_killed_comes_back_and_nothing_is_lost(
        verihook: Running, admin: Api, api: Api, receiver: Receiver, database_url: str) -> None:
    await api.endpoint(receiver.url + "/hook")
    supervisor = verihook.runtime.dispatcher.supervisor
    names = SIDE_TASKS + (["verihook-listen"] if database_url.startswith("postgres") else [])
    published: list[str] = []
    for name in names:
        published += await publish(api, 50)
        task = supervisor.task(name)
        assert task is not None and not task.done()
        task.cancel()
        await asyncio.sleep(0)
        ready = await admin.get("/readyz")
        assert ready.status == 503 and name in ready.body["detail"], ready.body
        published += await publish(api, 50)
        deadline = time.monotonic() + 5
        while (await admin.get("/readyz")).status != 200:
            assert time.monotonic() < deadline, f"{name} did not come back"
            await asyncio.sleep(0.05)
        assert supervisor.task(name) is not task
    await receiver.wait_for(len(published), timeout=20)
    for event_id in published:
        event = await api.wait_event(event_id)
        [delivery] = event["deliveries"]
        assert delivery["attempt_count"] == 1
    assert sorted({r.headers["webhook-id"] for r in receiver.requests}) == sorted(published)
    metrics = (await admin.get("/metrics")).body
    for name in names:
        assert f'verihook_side_task_restarts_total{{task="{name}"}} 1' in metrics


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_readyz_answers_503_while_due_deliveries_wait_past_the_stall_bound(database_url: str) -> None:
    """A room of two, and more hanging receivers than the stalled sends it keeps out of the room: the dispatcher
    can claim nothing, a healthy endpoint's deliveries wait past the 1 s bound, and the probe and the metric say
    so, until the hanging receivers go away and the deliveries leave."""
    settings = settings_for_tests(database_url, stall_after_s=1.0, dispatcher=DispatcherSettings(
        poll_interval_s=0.25, max_in_flight=2, per_endpoint_in_flight=1, claim_batch=2))
    hanging = [await Hanging().start() for _ in range(STALLED_PER_ROOM * 2 + 2)]
    healthy = await Receiver().start()
    try:
        async with running_verihook(settings) as running, aiohttp.ClientSession() as session:
            admin = Api(running.base_url, ADMIN_KEY, session)
            api = await admin.as_new_tenant("careless")
            for receiver in hanging:
                await api.endpoint(receiver.url + "/hook", event_types=["kyc.checked"], timeout_s=30)
            await api.endpoint(healthy.url + "/hook", event_types=["kyc.healthy"])
            assert (await admin.get("/readyz")).status == 200
            await publish(api, 1)
            deadline = time.monotonic() + 10
            while sum(len(h.requests) for h in hanging) < len(hanging):
                assert time.monotonic() < deadline, "the hanging receivers were not all reached"
                await asyncio.sleep(0.05)
            await api.publish("kyc.healthy")
            deadline = time.monotonic() + 6
            while (ready := await admin.get("/readyz")).status != 503:
                assert time.monotonic() < deadline, "the stall was never reported"
                await asyncio.sleep(0.1)
            assert "deliveries are stalled" in ready.body["detail"]
            assert metric((await admin.get("/metrics")).body, "verihook_deliveries_stalled") == 1
            await asyncio.gather(*(h.stop() for h in hanging))
            await healthy.wait_for(1, timeout=20)
            deadline = time.monotonic() + 5
            while (await admin.get("/readyz")).status != 200:
                assert time.monotonic() < deadline, "still reported stalled after the deliveries left"
                await asyncio.sleep(0.1)
            assert metric((await admin.get("/metrics")).body, "verihook_deliveries_stalled") == 0
    finally:
        await asyncio.gather(*(h.stop() for h in hanging), healthy.stop())
