"""A slow receiver with a large backlog holds a bounded share of the dispatcher; a redelivery never doubles a
delivery that is being sent, and the failure of the attempt that was out does not end the new cycle. Real
receivers, real stores, the public API."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests
from verihook.config import DispatcherSettings

SMALL = DispatcherSettings(max_in_flight=32, per_endpoint_in_flight=4, claim_batch=32, poll_interval_s=0.25)


async def test_a_slow_receivers_backlog_larger_than_the_room_does_not_hold_back_other_endpoints(
        database_url: str, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    slow = await Receiver([Answer(delay_s=2)]).start()
    try:
        async with running_verihook(settings_for_tests(database_url, dispatcher=SMALL)) as verihook:
            admin = Api(verihook.base_url, ADMIN_KEY, http)
            api = await admin.as_new_tenant("acme")
            slow_endpoint = await api.endpoint(slow.url, timeout_s=5, event_types=["slow.thing"])
            await api.endpoint(receiver.url, event_types=["fast.thing"])
            backlog = [{"type": "slow.thing", "data": {"i": i}} for i in range(300)]  # ~10 times the room
            (await api.post("/v1/events/batch", {"events": backlog})).ok()
            await slow.wait_for(1)

            started = time.monotonic()
            fast_events = (await api.post("/v1/events/batch", {"events": [
                {"type": "fast.thing", "data": {"i": i}} for i in range(40)]})).ok()["data"]
            await receiver.wait_for(40, timeout=10)
            waited = time.monotonic() - started

            # Without backpressure the 40 would wait for 300 slow answers, 4 at a time: 150 s.
            assert waited < 4, f"the fast endpoint waited {waited:.1f} s behind the slow backlog"
            for event in fast_events:
                await api.wait_event(event["id"])
            assert len(slow.requests) <= 4 * (int(waited / 2) + 2)  # still 4 at a time, every 2 s

            metrics = (await admin.get("/metrics")).body
            deferred = next(line for line in metrics.splitlines()
                            if line.startswith("verihook_deliveries_deferred_total "))
            assert float(deferred.split()[1]) > 0
            page = (await api.get("/v1/events", params={"endpoint_id": slow_endpoint["id"],
                                                        "delivery_status": "pending", "limit": 100})).ok()
            waiting = (await api.get(f"/v1/events/{page['data'][-1]['id']}")).ok()["deliveries"][0]
            assert waiting["attempt_count"] == 0  # handed back unsent: no attempt is counted
            assert waiting["status"] == "pending"
    finally:
        await slow.stop()


async def test_a_slow_but_steady_receiver_is_kept_busy_while_its_backlog_is_handed_back(
        database_url: str, http: aiohttp.ClientSession) -> None:
    """Handing back must not starve the destination it protects the others from: its backlog still goes out
    at its full pace (8 at a time, 0.1 s each: 80 a second)."""
    steady = await Receiver([Answer(delay_s=0.1)]).start()
    settings = settings_for_tests(database_url, dispatcher=DispatcherSettings(per_endpoint_in_flight=8,
                                                                              poll_interval_s=0.25))
    try:
        async with running_verihook(settings) as verihook:
            admin = Api(verihook.base_url, ADMIN_KEY, http)
            api = await admin.as_new_tenant("acme")
            await api.endpoint(steady.url, timeout_s=5)
            (await api.post("/v1/events/batch", {"events": [{"type": "steady.thing", "data": {"i": i}}
                                                            for i in range(600)]})).ok()
            requests = await steady.wait_for(600, timeout=30)
            pace = (len(requests) - 1) / (requests[-1].at - requests[0].at)
            metrics = (await admin.get("/metrics")).body
            assert "verihook_deliveries_deferred_total 0.0\n" not in metrics  # its backlog was handed back
            assert pace >= 0.85 * 80, f"{pace:.0f} a second, not 80"
            assert len({r.headers["webhook-id"] for r in requests}) == 600
    finally:
        await steady.stop()


async def test_a_redelivery_while_an_attempt_is_out_does_not_send_it_twice(
        database_url: str, http: aiohttp.ClientSession) -> None:
    """Two dispatchers share the store (two processes would): the one that did not send must not take it."""
    holding = Receiver([Answer(delay_s=1.5), Answer()])
    await holding.start()
    settings = settings_for_tests(database_url)
    try:
        async with running_verihook(settings) as first, running_verihook(settings) as second:
            admin = Api(first.base_url, ADMIN_KEY, http)
            api = await admin.as_new_tenant("acme")
            await api.endpoint(holding.url)
            event = await api.publish()
            await holding.wait_for(1)

            other = Api(second.base_url, api.key, http)
            assert len((await other.post(f"/v1/events/{event['id']}/redeliver")).ok()["deliveries"]) == 1
            await asyncio.sleep(1.0)  # both dispatchers poll every 0.25 s meanwhile
            assert len(holding.requests) == 1

            done = await api.wait_event(event["id"])
            [delivery] = done["deliveries"]
            assert [a["status_code"] for a in delivery["attempts"]] == [200]
    finally:
        await holding.stop()


async def test_a_redelivery_while_the_last_attempt_is_out_starts_a_cycle_that_its_failure_does_not_end(
        api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500, delay_s=1.5), Answer(200))
    await api.endpoint(receiver.url, retry={"strategy": "none"})  # one attempt a cycle
    event = await api.publish()
    await receiver.wait_for(1)
    (await api.post(f"/v1/events/{event['id']}/redeliver")).ok()

    done = await api.wait_event(event["id"], timeout=10)  # the first answer (500) did not fail the new cycle

    [delivery] = done["deliveries"]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert len(receiver.requests) == 2
