"""Nothing dropped silently: an event published while a matching endpoint is disabled gets a `skipped` delivery for
it, which no dispatcher sends and which `POST /v1/endpoints/{id}/recover` with `include_skipped` sends once the
endpoint is enabled again (on SQLite and PostgreSQL, against a real receiver)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.integration.test_dashboard_forms import logged_in
from tests.integration.test_store_contract import T0, a_draft, an_endpoint, store, tenant_with_endpoint
from tests.support.api import Api
from tests.support.receivers import Receiver
from verihook.model import DeliveryStatus, Endpoint, EventFilter, Subject
from verihook.store.base import EventDraft, Recipient, Store

__all__ = ["store"]  # the fixture

NO_RETRY = {"strategy": "none"}
LEASE_S = 20.0


def route_all(draft: EventDraft, subject: Subject | None, endpoints: list[Endpoint]) -> list[Recipient]:
    """What the service's router does with endpoints: a disabled one that matches is a skipped recipient."""
    return [Recipient(e.id, e.url, LEASE_S, skipped=not e.enabled) for e in endpoints if e.matches(draft.type)]


async def test_the_store_records_skipped_deliveries_and_never_claims_them(store: Store) -> None:
    tenant, on = await tenant_with_endpoint(store)
    off = an_endpoint(tenant.id, enabled=False)
    await store.insert_endpoint(off)

    [both] = await store.publish([a_draft(tenant.id, T0)], route_all)
    by_endpoint = {d.endpoint_id: d for d in both.deliveries}
    assert by_endpoint[off.id].status is DeliveryStatus.SKIPPED and by_endpoint[off.id].next_attempt_at is None
    assert by_endpoint[on.id].status is DeliveryStatus.PENDING
    [only_skipped] = await store.publish([a_draft(tenant.id, T0 + 1, type="other.type")],
                                         lambda d, s, eps: route_all(d, s, [off]))
    assert [d.status for d in only_skipped.deliveries] == [DeliveryStatus.SKIPPED]

    claimed = await store.claim_due(T0 + 100, 100)
    assert [c.id for c in claimed] == [by_endpoint[on.id].id]  # the skipped ones are never claimed
    assert await store.next_due_at() == T0
    assert (await store.queue_stats()).pending == 1

    # skipped is no part of an event's delivery status; the filter finds events with a skipped delivery
    statuses = await store.event_delivery_statuses([both.event.id, only_skipped.event.id])
    assert statuses == {both.event.id: DeliveryStatus.PENDING, only_skipped.event.id: None}
    skipped = await store.list_events(EventFilter(delivery_status=DeliveryStatus.SKIPPED), 10, None)
    assert [e.id for e in skipped.items] == [only_skipped.event.id, both.event.id]
    pending = await store.list_events(EventFilter(delivery_status=DeliveryStatus.PENDING), 10, None)
    assert [e.id for e in pending.items] == [both.event.id]

    # a redeliver leaves a skipped delivery alone while its endpoint is disabled; recover takes it with the flag
    assert await store.redeliver_event(only_skipped.event.id, T0 + 101) == 0
    assert await store.recover_endpoint(off.id, T0, T0 + 10, T0 + 102) == 0
    assert await store.recover_endpoint(off.id, T0, T0 + 10, T0 + 102, include_skipped=True) == 2
    [due] = await store.deliveries_of(only_skipped.event.id)
    assert (due.status, due.next_attempt_at) == (DeliveryStatus.PENDING, T0 + 102)
    assert sorted(c.endpoint_id or "" for c in await store.claim_due(T0 + 103, 100)) == [off.id, off.id]


async def _deliveries_to(api: Api, event_id: str, endpoint_id: str) -> list[dict[str, Any]]:
    detail = (await api.get(f"/v1/events/{event_id}")).ok()
    return [d for d in detail["deliveries"] if d["endpoint_id"] == endpoint_id]


async def test_events_published_while_disabled_are_skipped_then_recovered_once(api: Api, receiver: Receiver
                                                                               ) -> None:
    endpoint = await api.endpoint(receiver.url + "/hook", retry=NO_RETRY)
    (await api.patch(f"/v1/endpoints/{endpoint['id']}", {"enabled": False})).ok()
    before = await api.publish("order.created", {"n": 0})  # outside the recovery window below
    events = [await api.publish("order.created", {"n": n}) for n in (1, 2, 3)]
    for event in events:
        [delivery] = event["deliveries"]
        assert (delivery["status"], delivery["next_attempt_at"]) == ("skipped", None)
        assert event["delivery_status"] is None  # a skipped delivery changes no event's status

    listed = (await api.get("/v1/events", params={"delivery_status": "skipped"})).ok()["data"]
    assert [e["id"] for e in listed] == [e["id"] for e in reversed(events)] + [before["id"]]
    assert (await api.get("/v1/events", params={"delivery_status": "pending,failed"})).ok()["data"] == []

    # recovering while the endpoint is still disabled is refused: the deliveries could only fail
    refused = await api.post(f"/v1/endpoints/{endpoint['id']}/recover",
                             {"since": events[0]["created_at"], "include_skipped": True})
    assert refused.status == 409 and refused.body["field"] == "enabled"
    assert "disabled" in refused.body["detail"]

    await asyncio.sleep(1.5)  # more than a poll interval: a dispatcher that claimed skipped deliveries would send
    assert receiver.requests == []
    for event in events:
        [delivery] = await _deliveries_to(api, event["id"], endpoint["id"])
        assert (delivery["status"], delivery["attempt_count"]) == ("skipped", 0)

    (await api.patch(f"/v1/endpoints/{endpoint['id']}", {"enabled": True})).ok()
    plain = (await api.post(f"/v1/endpoints/{endpoint['id']}/recover", {"since": events[0]["created_at"]})).ok()
    assert plain == {"requeued": 0}  # without include_skipped they stay skipped
    await asyncio.sleep(1.0)
    assert receiver.requests == []

    recovered = (await api.post(f"/v1/endpoints/{endpoint['id']}/recover",
                                {"since": events[0]["created_at"], "include_skipped": True})).ok()
    assert recovered == {"requeued": 3}
    for event in events:
        await api.wait_event(event["id"], "succeeded")
    again = (await api.post(f"/v1/endpoints/{endpoint['id']}/recover",
                            {"since": events[0]["created_at"], "include_skipped": True})).ok()
    assert again == {"requeued": 0}
    await asyncio.sleep(1.0)
    assert sorted(r.json()["data"]["n"] for r in receiver.requests) == [1, 2, 3]  # each once
    [left] = await _deliveries_to(api, before["id"], endpoint["id"])
    assert left["status"] == "skipped"  # outside the window


async def test_a_subject_counts_its_skipped_deliveries_apart(api: Api, receiver: Receiver) -> None:
    endpoint = await api.endpoint(receiver.url, enabled=False)
    subject = (await api.post("/v1/subjects", {"kind": "order"})).ok()
    await api.publish("order.created", {}, subject_id=subject["id"])
    read = (await api.get(f"/v1/subjects/{subject['id']}")).ok()
    assert read["deliveries"] == {"pending": 0, "succeeded": 0, "failed": 0, "skipped": 1}
    assert read["delivery_status"] is None
    listed = (await api.get("/v1/subjects", params={"delivery_status": "skipped"})).ok()["data"]
    assert [s["id"] for s in listed] == [subject["id"]]
    assert endpoint["enabled"] is False


async def test_the_dashboard_recovers_skipped_deliveries_once_the_endpoint_is_enabled(
        api: Api, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    endpoint = await api.endpoint(receiver.url, enabled=False)
    events = [await api.publish("order.created", {"n": n}) for n in range(2)]
    ui = await logged_in(api, http)
    page = await ui.get(f"/ui/endpoints/{endpoint['id']}")
    assert 'name="include_skipped"' in page.text
    form = {"csrf": page.csrf, "window": "1h", "include_skipped": "on"}
    refused = await ui.post(f"/ui/endpoints/{endpoint['id']}/recover", form)
    assert refused.status == 409 and "is disabled" in refused.text
    (await api.patch(f"/v1/endpoints/{endpoint['id']}", {"enabled": True})).ok()
    recovered = await ui.post(f"/ui/endpoints/{endpoint['id']}/recover", form)
    assert recovered.status == 200 and "2 failed or skipped deliveries queued again." in recovered.text
    for event in events:
        await api.wait_event(event["id"], "succeeded")
    assert sorted(r.json()["data"]["n"] for r in receiver.requests) == [0, 1]
