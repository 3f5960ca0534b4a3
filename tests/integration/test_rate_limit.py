"""rate_limit_per_s against a real receiver: at most N requests a second reach it; a 429 pauses the whole endpoint
for its Retry-After and slows it further."""

from __future__ import annotations

import itertools
import time

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver

FAST_RETRY = {"strategy": "schedule", "delays_s": [0.2, 0.2, 0.2]}


def most_in_one_second(times: list[float]) -> int:
    """The most requests that arrived within any window of one second."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))


async def test_at_most_the_rate_reaches_the_receiver_in_any_second(api: Api, receiver: Receiver) -> None:
    endpoint = await api.endpoint(receiver.url, rate_limit_per_s=5)
    assert endpoint["rate_limit_per_s"] == 5
    started = time.time()
    published = (await api.post("/v1/events/batch", {"events": [
        {"type": "order.created", "data": {"n": n}} for n in range(20)]})).ok()

    requests = await receiver.wait_for(20, timeout=15)

    arrived = [r.at for r in requests]
    assert most_in_one_second(arrived) <= 5 + 1, sorted(t - started for t in arrived)  # the rate, and a burst of one
    assert max(arrived) - min(arrived) >= 19 / 5 - 0.5  # 20 requests at 5 a second take about 4 s
    assert sorted(r.json()["data"]["n"] for r in requests) == list(range(20))
    for event in published["data"]:
        await api.wait_event(event["id"])


async def test_a_429_holds_back_every_delivery_to_the_endpoint_for_its_retry_after(
        api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(429, headers={"Retry-After": "2"}), Answer(200))
    await api.endpoint(receiver.url, retry=FAST_RETRY)
    first = await api.publish("order.created", {"n": 1})
    [throttled] = await receiver.wait_for(1)

    second = await api.publish("order.created", {"n": 2})  # another delivery, due now
    await api.wait_event(second["id"], timeout=10)
    await api.wait_event(first["id"], timeout=10)

    later = receiver.requests[1:]
    assert later and all(r.at - throttled.at >= 1.9 for r in later), [r.at - throttled.at for r in later]


async def test_a_429_slows_a_rate_limited_endpoint_further(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(429, headers={"Retry-After": "1"}), Answer(200))
    await api.endpoint(receiver.url, rate_limit_per_s=4, retry=FAST_RETRY)
    (await api.post("/v1/events/batch", {"events": [
        {"type": "order.created", "data": {"n": n}} for n in range(6)]})).ok()

    requests = await receiver.wait_for(7, timeout=15)  # six events, the first sent twice

    after = [r.at for r in requests[1:]]
    assert after[0] - requests[0].at >= 0.95  # nothing during the Retry-After
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert min(gaps[:2]) >= 0.35, gaps  # about half the rate (2 a second, not 4) right after the 429
