"""The dispatcher against real receivers: retries, timeouts, Retry-After, 410, wake-ups, isolation, bounds.

The core scenarios run over both outbound transports (VERIHOOK_TRANSPORT): pyreqwest, the default, on both stores,
and aiohttp, the fallback, on SQLite (the transport does not depend on the store).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from standardwebhooks import Webhook

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import TRANSPORT_CASES, running_verihook, settings_for_tests
from verihook.config import DispatcherSettings

FAST_RETRY = {"strategy": "schedule", "delays_s": [0.2, 0.2, 0.2]}
over_both_transports = pytest.mark.parametrize(("database_url", "transport"), TRANSPORT_CASES, indirect=True)


@over_both_transports
async def test_fails_twice_then_succeeds_three_attempts_one_webhook_id_each_signed(
        api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500), Answer(503, content_type=None, body=b""), Answer(200))
    endpoint = await api.endpoint(receiver.url + "/hook", retry=FAST_RETRY)
    event = await api.publish("order.created", {"order_id": "o-1"})

    requests = await receiver.wait_for(3)
    done = await api.wait_event(event["id"])

    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {event["id"]}
    verifier = Webhook(endpoint["signing_secret"])
    for request in requests:
        assert verifier.verify(request.body, request.headers) == {
            "type": "order.created", "timestamp": event["created_at"], "data": {"order_id": "o-1"}}
    [delivery] = done["deliveries"]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["attempt_count"] == 3
    assert delivery["status"] == "succeeded"


@over_both_transports
async def test_a_hanging_receiver_is_cut_off_at_the_timeout_and_retried_per_policy(
        api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(delay_s=5), Answer(delay_s=5), Answer(200))
    await api.endpoint(receiver.url, timeout_s=0.5, retry={"strategy": "schedule", "delays_s": [0.3, 0.3]})
    started = time.monotonic()
    event = await api.publish()

    done = await api.wait_event(event["id"], timeout=10)

    attempts = done["deliveries"][0]["attempts"]
    assert [a["error"] for a in attempts] == ["timeout", "timeout", None]
    assert all(a["latency_ms"] < 1500 for a in attempts[:2])
    assert time.monotonic() - started < 4  # two 0.5 s timeouts + two 0.3 s delays, not two 5 s hangs


async def test_exhausted_retries_fail_the_delivery(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500))
    await api.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [0.1]})
    event = await api.publish()

    done = await api.wait_event(event["id"], status="failed")

    assert done["deliveries"][0]["attempt_count"] == 2
    assert len(receiver.requests) == 2


@over_both_transports
async def test_retry_after_is_honoured(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(429, headers={"Retry-After": "2"}), Answer(200))
    await api.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [0.1]})
    event = await api.publish()

    await api.wait_event(event["id"], timeout=10)

    first, second = receiver.requests
    assert second.at - first.at >= 1.9


@over_both_transports
async def test_410_gone_disables_the_endpoint_and_stops_retrying(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(410))
    endpoint = await api.endpoint(receiver.url, retry=FAST_RETRY)
    event = await api.publish()

    await api.wait_event(event["id"], status="failed")

    changed = (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert changed["enabled"] is False
    assert "410" in changed["disabled_reason"]
    later = await api.publish()
    assert [d["status"] for d in later["deliveries"]] == ["skipped"]  # recorded, not sent (recoverable)
    assert len(receiver.requests) == 1


async def test_a_published_event_leaves_at_once_not_on_the_next_poll(
        database_url: str, http, receiver: Receiver) -> None:
    settings = settings_for_tests(database_url, dispatcher=DispatcherSettings(poll_interval_s=30))
    async with running_verihook(settings) as running:
        admin = Api(running.base_url, settings.admin_key, http)
        api = await admin.as_new_tenant()
        await api.endpoint(receiver.url)
        await asyncio.sleep(0.3)  # let the dispatcher settle into its 30 s wait
        started = time.monotonic()
        await api.publish()
        await receiver.wait_for(1, timeout=5)
        assert time.monotonic() - started < 1.0


async def test_a_slow_receiver_does_not_hold_back_other_endpoints(api: Api, receiver: Receiver) -> None:
    slow = await Receiver([Answer(delay_s=3)]).start()
    try:
        await api.endpoint(slow.url, timeout_s=5, event_types=["slow.thing"])
        await api.endpoint(receiver.url, event_types=["fast.thing"])
        for _ in range(20):
            await api.publish("slow.thing")
        await slow.wait_for(1)
        started = time.monotonic()
        fast_events = [await api.publish("fast.thing", {"i": i}) for i in range(20)]
        await receiver.wait_for(20, timeout=5)
        assert time.monotonic() - started < 1.5
        for event in fast_events:
            await api.wait_event(event["id"])
    finally:
        await slow.stop()


class ConcurrencyGauge:
    """Counts requests in progress across receivers that each hold their answer for a while."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0

    def wrap(self, receiver: Receiver) -> None:
        original = receiver._handle

        async def counting(request):  # type: ignore[no-untyped-def]
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                return await original(request)
            finally:
                self.in_flight -= 1

        receiver._handle = counting  # type: ignore[method-assign]


async def _deliver_through(database_url: str, http, dispatcher: DispatcherSettings, receivers: list[Receiver],
                           events_per_endpoint: int) -> None:
    settings = settings_for_tests(database_url, dispatcher=dispatcher)
    async with running_verihook(settings) as running:
        admin = Api(running.base_url, settings.admin_key, http)
        api = await admin.as_new_tenant()
        for receiver in receivers:
            await api.endpoint(receiver.url)
        events = (await api.post("/v1/events/batch", {"events": [
            {"type": "order.created", "data": {"i": i}} for i in range(events_per_endpoint)]})).ok()["data"]
        for event in events:
            await api.wait_event(event["id"])


@pytest.mark.parametrize(("per_endpoint", "global_bound", "endpoints", "expected_peak"), [
    (3, 512, 1, 3),  # one endpoint: its own bound holds
    (64, 4, 3, 4),  # three endpoints: the process-wide bound holds across them
])
async def test_concurrency_is_bounded_per_endpoint_and_globally(
        database_url: str, http, per_endpoint: int, global_bound: int, endpoints: int, expected_peak: int) -> None:
    gauge = ConcurrencyGauge()
    receivers = []
    for _ in range(endpoints):
        receiver = Receiver([Answer(delay_s=0.1)])
        gauge.wrap(receiver)
        receivers.append(await receiver.start())
    dispatcher = DispatcherSettings(poll_interval_s=0.25, per_endpoint_in_flight=per_endpoint,
                                    max_in_flight=global_bound, claim_batch=global_bound)
    try:
        await _deliver_through(database_url, http, dispatcher, receivers, events_per_endpoint=20)
    finally:
        for receiver in receivers:
            await receiver.stop()
    assert gauge.peak == expected_peak


@pytest.mark.parametrize("status", [201, 204, 299])
async def test_any_2xx_succeeds_under_the_standard_rule(api: Api, receiver: Receiver, status: int) -> None:
    receiver.script(Answer(status))
    await api.endpoint(receiver.url, retry=FAST_RETRY)
    event = await api.publish()
    done = await api.wait_event(event["id"])
    assert done["deliveries"][0]["attempt_count"] == 1


@over_both_transports
async def test_a_redirect_is_not_followed_and_counts_as_a_failure(api: Api, receiver: Receiver) -> None:
    target = await Receiver().start()
    try:
        receiver.script(Answer(302, headers={"Location": target.url + "/elsewhere"}))
        await api.endpoint(receiver.url, retry={"strategy": "none"})
        event = await api.publish()
        done = await api.wait_event(event["id"], status="failed")
        assert done["deliveries"][0]["attempts"][0]["status_code"] == 302
        assert target.requests == []
    finally:
        await target.stop()
