"""Publishing: one event or a batch, idempotency keys, fan-out, a subject's own URL, per-subject sequences."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from tests.support.api import Api
from tests.support.receivers import Receiver
from verihook.receiver import verify

FAST = {"strategy": "schedule", "delays_s": [0.2, 0.2]}


async def _settle(api: Api, receiver: Receiver, expected: int) -> None:
    """Wait until the receiver has `expected` requests, then a little longer to see that no more come."""
    await receiver.wait_for(expected)
    marker = await api.publish("marker.sent", {})
    await api.wait_event(marker["id"])
    await asyncio.sleep(0.3)


async def test_publish_answers_202_with_the_event_and_its_deliveries(api: Api, receiver: Receiver) -> None:
    endpoint = await api.endpoint(receiver.url, retry=FAST)
    reply = await api.post("/v1/events", {"type": "order.created", "data": {"order": "o-1", "total": 12.5}})
    assert reply.status == 202
    event = reply.body
    assert event["id"].startswith("evt_") and event["type"] == "order.created"
    assert event["data"] == {"order": "o-1", "total": 12.5} and event["duplicate"] is False
    assert event["subject_id"] is None and event["sequence"] is None
    [delivery] = event["deliveries"]
    assert delivery["endpoint_id"] == endpoint["id"] and delivery["url"] == receiver.url
    assert delivery["status"] == "pending"

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    body = request.json()
    assert body["type"] == "order.created" and body["data"] == {"order": "o-1", "total": 12.5}
    assert body["timestamp"].endswith("Z")
    assert request.headers["webhook-id"] == event["id"]
    assert "verihook-sequence" not in request.headers
    done = await api.wait_event(event["id"])
    assert done["deliveries"][0]["status"] == "succeeded"


async def test_a_chunked_body_up_to_the_limit_is_published(api: Api, receiver: Receiver) -> None:
    """A body sent without Content-Length (chunked) is read whole, up to the 1 MiB limit, and published."""
    await api.endpoint(receiver.url, retry=FAST)
    blob = "x" * (1024 * 1024 - 200)
    payload = orjson.dumps({"type": "order.created", "data": {"blob": blob}})

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 50_000):
            yield payload[start:start + 50_000]

    headers = {"Authorization": f"Bearer {api.key}"}
    async with api.session.post(api.base_url + "/v1/events", data=pieces(), headers=headers) as response:
        assert response.status == 202, await response.text()
        assert "content-length" not in {name.lower() for name in response.request_info.headers}
        event = await response.json()
    [request] = await receiver.wait_for(1)
    assert request.json()["data"] == {"blob": blob}
    assert (await api.wait_event(event["id"]))["data"] == {"blob": blob}


async def test_the_same_idempotency_key_returns_the_first_event(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url, retry=FAST)
    first = await api.publish("order.created", {"n": 1}, idempotency_key="order-1")
    again = await api.publish("order.created", {"n": 2}, idempotency_key="order-1")
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["id"] == first["id"] and again["data"] == {"n": 1}
    assert [d["id"] for d in again["deliveries"]] == [d["id"] for d in first["deliveries"]]
    other = await api.publish("order.created", {"n": 3}, idempotency_key="order-2")
    assert other["id"] != first["id"] and other["duplicate"] is False

    await _settle(api, receiver, 2)
    assert sorted(r.json()["data"].get("n", 0) for r in receiver.requests) == [0, 1, 3]  # 0: the marker
    listed = (await api.get("/v1/events", params={"type": "order.created"})).ok()["data"]
    assert [e["id"] for e in listed] == [other["id"], first["id"]]
    assert len((await api.get(f"/v1/events/{first['id']}")).ok()["deliveries"]) == 1


async def test_idempotency_keys_belong_to_one_tenant(admin: Api, api: Api) -> None:
    other = await admin.as_new_tenant("other")
    mine = await api.publish("order.created", {}, idempotency_key="same-key")
    theirs = await other.publish("order.created", {}, idempotency_key="same-key")
    assert theirs["duplicate"] is False and theirs["id"] != mine["id"]


async def test_batch_publish_with_idempotency_keys(api: Api, receiver: Receiver) -> None:
    endpoint = await api.endpoint(receiver.url, retry=FAST)
    reply = await api.post("/v1/events/batch", {"events": [
        {"type": "order.created", "data": {"n": 1}, "idempotency_key": "k1"},
        {"type": "order.shipped", "data": {"n": 2}, "idempotency_key": "k2"},
        {"type": "order.created", "data": {"n": 3}},
    ]})
    assert reply.status == 202
    first = reply.body["data"]
    assert [e["data"]["n"] for e in first] == [1, 2, 3]
    assert all(e["duplicate"] is False and [d["endpoint_id"] for d in e["deliveries"]] == [endpoint["id"]]
               for e in first)

    again = (await api.post("/v1/events/batch", {"events": [
        {"type": "order.created", "data": {"n": 10}, "idempotency_key": "k1"},
        {"type": "order.created", "data": {"n": 4}, "idempotency_key": "k4"},
        {"type": "order.created", "data": {"n": 5}, "idempotency_key": "k4"},  # repeated within the batch
    ]})).ok()["data"]
    assert [e["duplicate"] for e in again] == [True, False, True]
    assert again[0]["id"] == first[0]["id"] and again[0]["data"] == {"n": 1}
    assert again[2]["id"] == again[1]["id"]

    await _settle(api, receiver, 4)
    assert sorted(r.json()["data"].get("n", 0) for r in receiver.requests) == [0, 1, 2, 3, 4]


async def test_fan_out_to_every_matching_enabled_endpoint(api: Api, receiver: Receiver) -> None:
    endpoints = [await api.endpoint(f"{receiver.url}/{n}", retry=FAST) for n in range(3)]
    off = await api.endpoint(receiver.url + "/off", enabled=False)
    await api.endpoint(receiver.url + "/other", event_types=["invoice.paid"])
    published = await api.publish("order.created", {"n": 1})
    [skipped] = [d for d in published["deliveries"] if d["endpoint_id"] == off["id"]]
    assert skipped["status"] == "skipped"  # the disabled endpoint's delivery is recorded, never sent
    event = {**published, "deliveries": [d for d in published["deliveries"] if d is not skipped]}
    assert len(event["deliveries"]) == 3
    assert {d["endpoint_id"] for d in event["deliveries"]} == {e["id"] for e in endpoints}
    assert len({d["id"] for d in event["deliveries"]}) == 3
    assert all(d["status"] == "pending" for d in event["deliveries"])

    requests = await receiver.wait_for(3)
    assert sorted(r.path_qs for r in requests) == ["/0", "/1", "/2"]
    assert {r.headers["webhook-id"] for r in requests} == {event["id"]}
    done = await api.wait_event(event["id"])
    assert sorted(d["status"] for d in done["deliveries"]) == ["skipped"] + ["succeeded"] * 3


async def test_an_event_with_no_matching_endpoint_is_stored_without_deliveries(api: Api) -> None:
    event = await api.publish("order.created", {"n": 1})
    assert event["deliveries"] == []
    detail = (await api.get(f"/v1/events/{event['id']}")).ok()
    assert detail["deliveries"] == [] and detail["data"] == {"n": 1}


async def test_a_subject_with_its_own_webhook_url_gets_its_events(api: Api, receiver: Receiver) -> None:
    endpoint = await api.endpoint(receiver.url + "/tenant-endpoint", retry=FAST)
    own_url = receiver.url + "/subject-hook?portal=a%20b&x=1"
    subject = (await api.post("/v1/subjects", {"kind": "process", "webhook_url": own_url})).ok()
    assert subject["webhook_url"] == own_url
    event = await api.publish("process.updated", {"step": 1}, subject_id=subject["id"])
    destinations = {d["endpoint_id"]: d["url"] for d in event["deliveries"]}
    assert destinations == {None: own_url, endpoint["id"]: receiver.url + "/tenant-endpoint"}

    requests = {r.path_qs: r for r in await receiver.wait_for(2)}
    assert set(requests) == {"/subject-hook?portal=a%20b&x=1", "/tenant-endpoint"}
    tenant_secret = (await api.get(f"/v1/tenants/{event['tenant_id']}/secrets")).ok()["signing_secret"]
    to_subject = requests["/subject-hook?portal=a%20b&x=1"]
    verify(tenant_secret, to_subject.headers, to_subject.body)
    assert to_subject.json()["data"] == {"step": 1}
    await api.wait_event(event["id"])

    # an event of another subject (or of none) does not go to this subject's URL
    plain = await api.publish("process.updated", {"step": 2})
    assert [d["endpoint_id"] for d in plain["deliveries"]] == [endpoint["id"]]


async def test_each_event_of_a_subject_gets_the_next_sequence_number(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url, retry=FAST)
    subject = (await api.post("/v1/subjects", {"kind": "process"})).ok()
    other = (await api.post("/v1/subjects", {"kind": "process"})).ok()
    sequences = []
    for n in range(3):
        event = await api.publish("process.updated", {"n": n}, subject_id=subject["id"])
        sequences.append(event["sequence"])
    assert sequences == [1, 2, 3]
    batch = (await api.post("/v1/events/batch", {"events": [
        {"type": "process.updated", "data": {"n": 3}, "subject_id": subject["id"]},
        {"type": "process.updated", "data": {"n": 0}, "subject_id": other["id"]},
        {"type": "process.updated", "data": {"n": 4}, "subject_id": subject["id"]},
    ]})).ok()["data"]
    assert [e["sequence"] for e in batch] == [4, 1, 5]

    requests = await receiver.wait_for(6)
    seen = {(r.headers["verihook-subject"], r.json()["data"]["n"]): r.headers["verihook-sequence"] for r in requests}
    assert seen == {(subject["id"], 0): "1", (subject["id"], 1): "2", (subject["id"], 2): "3",
                    (subject["id"], 3): "4", (subject["id"], 4): "5", (other["id"], 0): "1"}
    assert (await api.get(f"/v1/subjects/{subject['id']}")).ok()["sequence"] == 5


async def test_concurrent_publishes_keep_keys_and_sequences_straight(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url, retry=FAST)
    same_key = await asyncio.gather(*(api.publish("order.created", {"n": n}, idempotency_key="race")
                                      for n in range(8)))
    assert len({e["id"] for e in same_key}) == 1
    assert sorted(e["duplicate"] for e in same_key) == [False] + [True] * 7

    subject = (await api.post("/v1/subjects", {"kind": "process"})).ok()
    racing = await asyncio.gather(*(api.publish("process.updated", {"n": n}, subject_id=subject["id"])
                                    for n in range(8)))
    assert sorted(e["sequence"] for e in racing) == list(range(1, 9))
    await receiver.wait_for(9)
