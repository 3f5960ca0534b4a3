"""Endpoint health against real receivers: auto_disable (a failing streak long and large enough disables the
endpoint, a success ends the streak), the operational events `verihook.endpoint.disabled` and
`verihook.delivery.exhausted` (only to endpoints that name them), and the fields' defaults and checks."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.test_metrics import scrape, scrape_until, value
from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver

DISABLED = "verihook.endpoint.disabled"
EXHAUSTED = "verihook.delivery.exhausted"
QUICK = {"failing_for_s": 1, "min_failures": 3}
MANY_QUICK_RETRIES = {"strategy": "schedule", "delays_s": [0.3] * 20}
STANDARD_DEFAULT = {"failing_for_s": 432000, "min_failures": 10}


async def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> None:
    """Until `check()` (a bool, or an awaitable of one) is true."""
    deadline = time.monotonic() + timeout
    while not (await result if inspect.isawaitable(result := check()) else result):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def news(receiver: Receiver, path: str = "/news") -> list[dict[str, Any]]:
    return [r.json() for r in receiver.requests if r.path_qs == path]


async def test_a_failing_endpoint_is_disabled_once_and_its_news_goes_only_where_named(
        api: Api, receiver: Receiver) -> None:
    failing = await Receiver([Answer(500)]).start()
    try:
        endpoint = await api.endpoint(failing.url, auto_disable=QUICK, retry=MANY_QUICK_RETRIES)
        await api.endpoint(f"{receiver.url}/news", event_types=[DISABLED, EXHAUSTED])
        await api.endpoint(f"{receiver.url}/all")  # every type: never the operational events
        started = time.monotonic()
        for n in range(3):
            await api.publish("order.created", {"n": n})

        async def disabled() -> bool:
            return (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is False
        await wait_until(disabled)

        assert time.monotonic() - started >= 1.0  # not before the streak is a second long
        changed = (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()
        assert changed["disabled_reason"] == "every attempt failed for 1 s (3 attempts or more)"
        await wait_until(lambda: len([n for n in news(receiver) if n["type"] == EXHAUSTED]) == 3)
        await asyncio.sleep(0.5)
        told = [n for n in news(receiver) if n["type"] == DISABLED]
        assert [n["data"] for n in told] == [{"endpoint_id": endpoint["id"], "reason": changed["disabled_reason"],
                                              "at": told[0]["data"]["at"]}]
        page = await scrape(api)
        assert value(page, "verihook_endpoints_disabled_total") == 1  # once, though three deliveries failed on
        exhausted = [n["data"] for n in news(receiver) if n["type"] == EXHAUSTED]
        assert {e["endpoint_id"] for e in exhausted} == {endpoint["id"]}
        assert all(e["last_error"] == "endpoint disabled" or e["last_status_code"] == 500 for e in exhausted)
        assert [r.json()["type"] for r in receiver.requests if r.path_qs == "/all"] == ["order.created"] * 3
    finally:
        await failing.stop()


async def test_a_success_ends_the_failing_streak(api: Api, receiver: Receiver) -> None:
    def two_failures_then_a_success(request: Received) -> Answer:
        return Answer(200) if len(receiver.requests) % 3 == 2 else Answer(500)

    receiver.handler = two_failures_then_a_success
    endpoint = await api.endpoint(receiver.url, auto_disable=QUICK, retry=MANY_QUICK_RETRIES)
    for n in range(4):
        await api.publish("order.created", {"n": n})
        await asyncio.sleep(0.5)
    await receiver.wait_for(12)
    await asyncio.sleep(0.5)

    assert len(receiver.requests) >= 12  # two seconds of attempts, two failures in three
    assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is True


async def test_enabling_again_starts_the_streak_afresh(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500))
    endpoint = await api.endpoint(receiver.url, auto_disable=QUICK, retry=MANY_QUICK_RETRIES)
    await api.publish()

    async def disabled() -> bool:
        return (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is False
    await wait_until(disabled)
    again = (await api.patch(f"/v1/endpoints/{endpoint['id']}", {"enabled": True,
                                                                  "retry": {"strategy": "none"}})).ok()
    assert again["disabled_reason"] is None
    event = await api.publish()
    await api.wait_event(event["id"], status="failed")  # one more failure: a streak of one, not of many

    assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is True


async def test_an_exhausted_delivery_is_told_with_its_last_answer(api: Api, receiver: Receiver) -> None:
    failing = await Receiver([Answer(503)]).start()
    try:
        endpoint = await api.endpoint(f"{failing.url}/hook?x=1", retry={"strategy": "none"})
        await api.endpoint(f"{receiver.url}/news", event_types=[EXHAUSTED])
        event = await api.publish("order.created", {"n": 1})
        done = await api.wait_event(event["id"], status="failed")

        [told] = [r.json() for r in await receiver.wait_for(1)]
        assert told["type"] == EXHAUSTED
        assert told["data"] == {"event_id": event["id"], "delivery_id": done["deliveries"][0]["id"],
                                "endpoint_id": endpoint["id"], "url": f"{failing.url}/hook?x=1", "attempts": 1,
                                "last_status_code": 503, "last_error": None}
        # the news of the news is never told: the operational event that failed to go out tells nothing more
        receiver.script(Answer(500))
        await api.publish("order.created", {"n": 2})
        await asyncio.sleep(1.5)
        assert len(news(receiver)) == 2
        assert {n["type"] for n in news(receiver)} == {EXHAUSTED}
    finally:
        await failing.stop()


async def test_defaults_by_profile_and_what_a_tenant_may_set(admin: Api, api: Api) -> None:
    standard = await api.endpoint("https://hooks.example.com/a")
    assert standard["auto_disable"] == STANDARD_DEFAULT and standard["rate_limit_per_s"] is None
    seed = await api.endpoint("https://hooks.example.com/b", profile="incode")
    assert seed["auto_disable"] is None  # no seed documents auto-disable
    # a tenant may turn it on for a seed endpoint (no seed forbids it), and name the operational events there
    opted = (await api.patch(f"/v1/endpoints/{seed['id']}", {"auto_disable": QUICK,
                                                             "event_types": ["onboarding.status_changed", DISABLED]}
                             )).ok()
    assert opted["auto_disable"] == QUICK and opted["event_types"] == ["onboarding.status_changed", DISABLED]
    # a change of profile that leaves auto_disable out takes the new profile's default
    moved = (await api.patch(f"/v1/endpoints/{standard['id']}", {"profile": "attestr", "timeout_s": 5,
                                                                 "retry": {"strategy": "none"}, "success": "200",
                                                                 "auth": {"type": "basic"}})).ok()
    assert moved["auto_disable"] is None
    off = (await api.patch(f"/v1/endpoints/{seed['id']}", {"auto_disable": None, "rate_limit_per_s": 2.5})).ok()
    assert off["auto_disable"] is None and off["rate_limit_per_s"] == 2.5
    assert (await api.get(f"/v1/endpoints/{seed['id']}")).ok()["rate_limit_per_s"] == 2.5


BAD_FIELDS = [
    ({"rate_limit_per_s": 0}, "rate_limit_per_s"),
    ({"rate_limit_per_s": -1}, "rate_limit_per_s"),
    ({"rate_limit_per_s": 10001}, "rate_limit_per_s"),
    ({"rate_limit_per_s": "5"}, "rate_limit_per_s"),
    ({"rate_limit_per_s": True}, "rate_limit_per_s"),
    ({"auto_disable": "yes"}, "auto_disable"),
    ({"auto_disable": {"failing_for_s": 0, "min_failures": 10}}, "auto_disable.failing_for_s"),
    ({"auto_disable": {"failing_for_s": 1.5, "min_failures": 10}}, "auto_disable.failing_for_s"),
    ({"auto_disable": {"failing_for_s": 10**12, "min_failures": 10}}, "auto_disable.failing_for_s"),
    ({"auto_disable": {"failing_for_s": 60, "min_failures": 0}}, "auto_disable.min_failures"),
    ({"auto_disable": {"failing_for_s": 60, "min_failures": "10"}}, "auto_disable.min_failures"),
    ({"auto_disable": {"failing_for_s": 60}}, "auto_disable.min_failures"),
    ({"auto_disable": {"failing_for_s": 60, "min_failures": 1, "after": 3}}, "auto_disable.after"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_FIELDS)
async def test_a_bad_health_setting_is_refused_naming_it(api: Api, fields: dict[str, Any], field: str) -> None:
    created = await api.post("/v1/endpoints", {"url": "https://hooks.example.com/a", **fields})
    assert created.status == 422 and created.body["field"] == field, created.body
    assert (await api.get("/v1/endpoints")).ok()["data"] == []
    endpoint = await api.endpoint("https://hooks.example.com/a")
    changed = await api.patch(f"/v1/endpoints/{endpoint['id']}", fields)
    assert changed.status == 422 and changed.body["field"] == field, changed.body
    assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["auto_disable"] == STANDARD_DEFAULT


async def test_a_tenant_cannot_publish_operational_events(api: Api) -> None:
    for kind in (DISABLED, EXHAUSTED):
        reply = await api.post("/v1/events", {"type": kind, "data": {"endpoint_id": "ep_x"}})
        assert reply.status == 422 and reply.body["field"] == "type", reply.body
    assert (await api.get("/v1/events")).ok()["data"] == []


async def test_the_disabled_count_is_one_per_endpoint(api: Api, receiver: Receiver) -> None:
    """A 410 to several deliveries at once disables its endpoint once, and says so once."""
    gone = await Receiver([Answer(410, delay_s=0.3)]).start()
    try:
        endpoint = await api.endpoint(gone.url)
        await api.endpoint(f"{receiver.url}/news", event_types=[DISABLED])
        events = [await api.publish() for _ in range(5)]
        for event in events:
            await api.wait_event(event["id"], "failed")
        assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is False
        await scrape_until(api, "verihook_endpoints_disabled_total", None, 1)
        [told] = [r.json() for r in await receiver.wait_for(1)]
        await asyncio.sleep(0.5)
        assert value(await scrape(api), "verihook_endpoints_disabled_total") == 1
        assert len(receiver.requests) == 1
        assert told["data"]["endpoint_id"] == endpoint["id"] and "410" in told["data"]["reason"]
    finally:
        await gone.stop()


async def test_news_no_endpoint_names_is_not_published(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500))
    await api.endpoint(receiver.url, retry={"strategy": "none"})  # takes every type: never the news
    event = await api.publish()
    await api.wait_event(event["id"], status="failed")
    await asyncio.sleep(0.5)

    assert [e["type"] for e in (await api.get("/v1/events")).ok()["data"]] == ["order.created"]
    assert len(receiver.requests) == 1
