"""The limits of verihook.limits at their edge, on both stores: the largest and deepest input allowed is accepted,
read back unchanged through every list and get route (the tenant's, its parent's and the admin's) and delivered;
one level deeper is refused naming the field, and nothing of it is stored."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.receivers import Receiver

MAX_DEPTH = 64  # verihook.limits.MAX_DEPTH, as docs/API.md states it
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)


def deep(levels: int) -> dict[str, Any]:
    """An object nested `levels` deep: deep(1) is {"a": 1}."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def deepest_data() -> dict[str, Any]:
    """Data at every limit at once: 64 levels deep, both ends of signed 64 bits, the largest double, text beyond
    the Basic Multilingual Plane, an escaped control character."""
    return {"a": deep(MAX_DEPTH - 1), "list": [[[[1]]]], "max": MAX_INT, "min": MIN_INT, "big": 1.7976931348623157e308,
            "tiny": 5e-324, "text": "é — 😀 \u2028 \x01", "empty": {}}


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


async def family(admin: Api) -> tuple[Api, Api]:
    """A reseller and its child tenant, each with its own key."""
    parent = await admin.tenant("reseller")
    parent_api = admin.as_key(parent["api_key"])
    child = await parent_api.tenant("customer", parent_id=parent["id"])
    return parent_api, admin.as_key(child["api_key"])


async def test_the_deepest_event_data_is_stored_read_back_everywhere_and_delivered(admin: Api, receiver: Receiver
                                                                                  ) -> None:
    parent, child = await family(admin)
    await child.endpoint(receiver.url + "/hook")
    data = deepest_data()
    assert depth(data) == MAX_DEPTH

    one = await child.publish("order.created", data)
    assert one["data"] == data
    [batched] = (await child.post("/v1/events/batch", {"events": [{"type": "order.created", "data": data}]})
                 ).ok()["data"]
    assert batched["data"] == data

    for event_id in (one["id"], batched["id"]):
        event = await child.wait_event(event_id)
        assert event["data"] == data
        for reader in (parent, admin):
            assert (await reader.get(f"/v1/events/{event_id}")).ok()["data"] == data
    for reader in (child, parent, admin):
        listed = (await reader.get("/v1/events", params={"limit": 500})).ok()["data"]
        assert [e["data"] for e in listed if e["id"] in (one["id"], batched["id"])] == [data, data]
        filtered = (await reader.get("/v1/events", params={"delivery_status": "succeeded"})).ok()["data"]
        assert {e["id"] for e in filtered} >= {one["id"], batched["id"]}
    delivered = [r.json() for r in await receiver.wait_for(2)]
    assert [body["data"] for body in delivered] == [data, data]


async def test_the_deepest_subject_data_is_stored_read_back_everywhere_and_delivered(admin: Api, receiver: Receiver
                                                                                    ) -> None:
    parent, child = await family(admin)
    await child.endpoint(receiver.url + "/hook")
    data = deepest_data()
    subject = (await child.post("/v1/subjects", {"kind": "process", "status": "started", "data": data})).ok()
    assert subject["data"] == data
    changed = (await child.patch(f"/v1/subjects/{subject['id']}", {"status": "done", "data": data})).ok()
    assert changed["data"] == data

    for reader in (child, parent, admin):
        assert (await reader.get(f"/v1/subjects/{subject['id']}")).ok()["data"] == data
        listed = (await reader.get("/v1/subjects", params={"limit": 500})).ok()["data"]
        assert [s["data"] for s in listed if s["id"] == subject["id"]] == [data]
        events = (await reader.get(f"/v1/subjects/{subject['id']}/events")).ok()["data"]
        assert events and all(e["data"]["data"] == data for e in events), events
    if changed["event"] is not None:
        await child.wait_event(changed["event"]["id"])
        [received] = await receiver.wait_for(1)
        assert received.json()["data"]["data"] == data


async def test_one_level_deeper_is_refused_naming_the_field_and_nothing_is_stored(admin: Api) -> None:
    _, child = await family(admin)
    too_deep = {**deepest_data(), "a": deep(MAX_DEPTH)}
    for path, body, field in (
        ("/v1/events", {"type": "order.created", "data": too_deep}, "data"),
        ("/v1/events/batch", {"events": [{"type": "order.created", "data": {}},
                                         {"type": "order.created", "data": too_deep}]}, "events[1].data"),
        ("/v1/subjects", {"kind": "process", "data": too_deep}, "data"),
    ):
        reply = await child.post(path, body)
        assert reply.status == 422 and reply.content_type.startswith("application/problem+json"), reply.body
        assert reply.body["field"] == field and str(MAX_DEPTH) in reply.body["detail"], reply.body
    assert (await child.get("/v1/events")).ok()["data"] == []
    assert (await child.get("/v1/subjects")).ok()["data"] == []


async def test_integers_at_the_ends_of_64_bits_come_back_exactly(api: Api) -> None:
    raw = b'{"type": "order.created", "data": {"max": 9223372036854775807, "min": -9223372036854775808}}'
    reply = await api.call("POST", "/v1/events", data=raw, headers={"Content-Type": "application/json"})
    event = reply.ok()
    assert event["data"] == {"max": MAX_INT, "min": MIN_INT}
    assert (await api.get(f"/v1/events/{event['id']}")).ok()["data"] == {"max": MAX_INT, "min": MIN_INT}
