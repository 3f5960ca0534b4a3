"""Attestr webhooks (seed 002): a generated, editable Basic token, six event types, one attempt in 5 s, 200 only."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver

EVENT_TYPES = ["async.completed", "async.errored", "flowx.completed", "flowx.errored", "flowx.skipped",
               "factx.query"]


@pytest.fixture
async def attestr(admin: Api) -> Api:
    tenant = await admin.tenant("attestr customer", profile="attestr")
    return admin.as_key(tenant["api_key"])


async def test_the_six_event_types_are_in_the_catalog(attestr: Api) -> None:
    catalog = (await attestr.get("/v1/event-types")).ok()["data"]
    assert [t["name"] for t in catalog if t["profile"] == "attestr"] == EVENT_TYPES


async def test_register_and_update_a_webhook(attestr: Api, receiver: Receiver) -> None:
    webhook = await attestr.endpoint(receiver.url + "/hook", event_types=["async.completed", "flowx.completed"])
    token = webhook["auth"]["token"]
    assert webhook["auth"]["type"] == "basic" and len(token) >= 32
    assert (webhook["timeout_s"], webhook["retry"], webhook["success"]) == (5.0, {"strategy": "none"}, "200")
    shown = (await attestr.get(f"/v1/endpoints/{webhook['id']}")).ok()
    assert shown["auth"]["token"] == "***"
    assert (await attestr.get(f"/v1/endpoints/{webhook['id']}/secrets")).ok()["auth"]["token"] == token

    payload = {"_id": "66a1b2", "status": "COMPLETED", "output": {"valid": True, "name": "A N Other"}}
    event = await attestr.publish("async.completed", payload)
    [request] = await receiver.wait_for(1)
    assert request.headers["authorization"] == f"Basic {token}"
    assert request.body == orjson.dumps(payload)
    await attestr.wait_event(event["id"])

    skipped = await attestr.publish("flowx.skipped", {"flow": "f1"})  # not selected: not sent
    assert skipped["deliveries"] == []

    # the user replaces the token with their own, the URL and the events
    other = await Receiver().start()
    try:
        changed = (await attestr.patch(f"/v1/endpoints/{webhook['id']}", {
            "url": other.url + "/new", "auth": {"type": "basic", "token": "my-own-token"},
            "event_types": ["flowx.skipped"]})).ok()
        assert changed["event_types"] == ["flowx.skipped"]
        await attestr.publish("flowx.skipped", {"flow": "f2"})
        [request] = await other.wait_for(1)
        assert request.headers["authorization"] == "Basic my-own-token"
        assert request.path_qs == "/new" and request.json() == {"flow": "f2"}

        # disabled: nothing is sent (the delivery is recorded as skipped); enabled again: sent
        await attestr.patch(f"/v1/endpoints/{webhook['id']}", {"enabled": False})
        skipped = (await attestr.publish("flowx.skipped", {"flow": "f3"}))["deliveries"]
        assert [d["status"] for d in skipped] == ["skipped"]
        await attestr.patch(f"/v1/endpoints/{webhook['id']}", {"enabled": True})
        await attestr.publish("flowx.skipped", {"flow": "f4"})
        await other.wait_for(2)
        assert [r.json()["flow"] for r in other.requests] == ["f2", "f4"]
    finally:
        await other.stop()
    assert len(receiver.requests) == 1


async def test_a_type_of_another_profile_cannot_be_selected(attestr: Api, receiver: Receiver) -> None:
    reply = await attestr.post("/v1/endpoints", {"url": receiver.url, "event_types": ["async.completed",
                                                                                      "process.completed"]})
    assert reply.status == 422 and reply.body["field"] == "event_types[1]"
    assert (await attestr.get("/v1/endpoints")).ok()["data"] == []


@pytest.mark.parametrize("status", [201, 204, 500, 503])
async def test_anything_but_200_fails_and_is_never_retried(attestr: Api, receiver: Receiver, status: int) -> None:
    receiver.script(Answer(status=status))
    await attestr.endpoint(receiver.url)
    event = await attestr.publish("async.errored", {"_id": "x", "status": "ERRORED"})
    failed = await attestr.wait_event(event["id"], "failed")
    [delivery] = failed["deliveries"]
    assert delivery["attempt_count"] == 1 and delivery["next_attempt_at"] is None
    assert [a["status_code"] for a in delivery["attempts"]] == [status]
    assert len(receiver.requests) == 1


async def test_a_receiver_slower_than_5_s_fails_once(attestr: Api, receiver: Receiver) -> None:
    receiver.script(Answer(delay_s=6.5))
    await attestr.endpoint(receiver.url)
    started = time.monotonic()
    event = await attestr.publish("flowx.completed", {"flow": "f"})
    failed = await attestr.wait_event(event["id"], "failed", timeout=15)
    [attempt] = failed["deliveries"][0]["attempts"]
    assert attempt["error"] == "timeout" and attempt["status_code"] is None
    assert 4900 <= attempt["latency_ms"] < 6000
    assert time.monotonic() - started < 6.5
    assert len(receiver.requests) == 1


async def test_after_a_failed_delivery_the_result_is_pulled(attestr: Api, receiver: Receiver) -> None:
    receiver.script(Answer(status=500))
    await attestr.endpoint(receiver.url, event_types=["async.completed", "async.errored"])
    request_id = "async-7f3a"
    (await attestr.post("/v1/subjects", {"kind": "async", "id": request_id, "status": "pending"})).ok()
    result: dict[str, Any] = {"_id": request_id, "status": "COMPLETED", "output": {"valid": True}}
    changed = (await attestr.patch(f"/v1/subjects/{request_id}", {"status": "completed", "data": result})).ok()
    assert changed["event"]["type"] == "async.completed"
    await attestr.wait_event(changed["event"]["id"], "failed")
    assert receiver.requests[0].json() == result

    # the GetAsyncResponse of this service: the subject, and the list of those whose webhook failed
    pulled = (await attestr.get(f"/v1/subjects/{request_id}")).ok()
    assert pulled["status"] == "completed" and pulled["data"] == result and pulled["delivery_status"] == "failed"
    failed = (await attestr.get("/v1/subjects", params={"kind": "async", "delivery_status": "failed"})).ok()
    assert [s["id"] for s in failed["data"]] == [request_id]


async def test_statuses_are_those_of_the_kind(attestr: Api) -> None:
    (await attestr.post("/v1/subjects", {"kind": "flowx", "id": "flow-1"})).ok()
    reply = await attestr.patch("/v1/subjects/flow-1", {"status": "finished"})
    assert reply.status == 422 and reply.body["field"] == "status" and "'skipped'" in reply.body["detail"]
    reply = await attestr.post("/v1/subjects", {"kind": "kyc", "status": "completed"})
    assert reply.status == 422 and reply.body["field"] == "kind"
