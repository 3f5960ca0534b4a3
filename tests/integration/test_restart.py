"""Killing `verihook serve` loses nothing: waiting retries and in-flight deliveries survive a restart."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from tests.support.server import ADMIN_KEY, ServeProcess


async def test_killed_while_a_delivery_waits_for_its_retry_then_restarted_loses_nothing(
        tmp_path: Path, database_url: str, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    seen: set[str] = set()

    def first_attempt_fails(request: Received) -> Answer:
        webhook_id = request.headers["webhook-id"]
        answer = Answer(200) if webhook_id in seen else Answer(500)
        seen.add(webhook_id)
        return answer

    receiver.handler = first_attempt_fails
    serve = ServeProcess(database_url, tmp_path)
    await serve.start()
    try:
        admin = Api(serve.base_url, ADMIN_KEY, http)
        api = await admin.as_new_tenant()
        await api.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [2]})
        events = [await api.publish("order.created", {"i": i}) for i in range(5)]
        await receiver.wait_for(5)  # every first attempt failed; each retry waits 2 s
        for event in events:
            await _wait_attempts(api, event["id"], 1)
        serve.kill(signal.SIGKILL)
        await asyncio.sleep(2.5)  # the retries fall due while nothing runs
        assert len(receiver.requests) == 5

        serve = ServeProcess(database_url, tmp_path)
        await serve.start()
        api = Api(serve.base_url, api.key, http)
        for event in events:
            done = await api.wait_event(event["id"], timeout=15)
            assert done["deliveries"][0]["attempt_count"] == 2
        assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(
            [e["id"] for e in events] * 2)
    finally:
        serve.kill()


async def _wait_attempts(api: Api, event_id: str, count: int) -> None:
    deadline = time.monotonic() + 5
    while (await api.get(f"/v1/events/{event_id}")).ok()["deliveries"][0]["attempt_count"] < count:
        assert time.monotonic() < deadline, f"event {event_id} never recorded {count} attempt(s)"
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_killed_mid_request_the_delivery_goes_out_again_with_the_same_webhook_id(
        tmp_path: Path, database_url: str, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    receiver.script(Answer(200, delay_s=30), Answer(200))
    serve = ServeProcess(database_url, tmp_path)
    await serve.start()
    try:
        admin = Api(serve.base_url, ADMIN_KEY, http)
        api = await admin.as_new_tenant()
        await api.endpoint(receiver.url, timeout_s=1, retry={"strategy": "schedule", "delays_s": [0.2]})
        event = await api.publish()
        await receiver.wait_for(1)
        serve.kill(signal.SIGKILL)  # the attempt is in flight: its outcome was never recorded

        serve = ServeProcess(database_url, tmp_path)
        await serve.start()
        api = Api(serve.base_url, api.key, http)
        started = time.monotonic()
        done = await api.wait_event(event["id"], timeout=25)
        # claimable again within the endpoint's timeout plus 15 s (the lease)
        assert time.monotonic() - started < 1 + 15 + 2
        assert [r.headers["webhook-id"] for r in receiver.requests] == [event["id"], event["id"]]
        assert done["deliveries"][0]["status"] == "succeeded"
    finally:
        serve.kill()
