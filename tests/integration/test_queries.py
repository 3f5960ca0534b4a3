"""Queries and actions: the events list and its filters, cursor paging, event detail, redeliver, recover, test."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import datetime
from typing import Any

from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from verihook.receiver import verify

FAST = {"strategy": "schedule", "delays_s": [0.2, 0.2]}
NO_RETRY = {"strategy": "none"}
LATER = {"strategy": "schedule", "delays_s": [3600]}  # a failed first attempt leaves the delivery pending


def _by_path(received: Received) -> Answer:
    return Answer(500) if "/fail" in received.path_qs else Answer(200)


async def _ids(api: Api, **params: Any) -> list[str]:
    reply = (await api.get("/v1/events", params=params)).ok()
    return [e["id"] for e in reply["data"]]


async def test_events_list_filters(api: Api, receiver: Receiver) -> None:
    receiver.handler = _by_path
    ok = await api.endpoint(receiver.url + "/ok", event_types=["order.created", "order.shipped"], retry=NO_RETRY)
    failing = await api.endpoint(receiver.url + "/fail", event_types=["order.failed"], retry=NO_RETRY)
    later = await api.endpoint(receiver.url + "/fail-later", event_types=["order.pending"], retry=LATER)
    subject = (await api.post("/v1/subjects", {"kind": "order"})).ok()

    created = await api.publish("order.created", {"n": 1}, subject_id=subject["id"])
    shipped = await api.publish("order.shipped", {"n": 2})
    failed = await api.publish("order.failed", {"n": 3}, subject_id=subject["id"])
    pending = await api.publish("order.pending", {"n": 4})
    nowhere = await api.publish("order.ignored", {"n": 5})
    for event, status in ((created, "succeeded"), (shipped, "succeeded"), (failed, "failed")):
        await api.wait_event(event["id"], status)
    await receiver.wait_for(4)
    assert (await api.get(f"/v1/events/{pending['id']}")).ok()["delivery_status"] == "pending"

    everything = [nowhere["id"], pending["id"], failed["id"], shipped["id"], created["id"]]
    assert await _ids(api) == everything  # newest first
    listed = (await api.get("/v1/events")).ok()["data"]
    assert [e["delivery_status"] for e in listed] == [None, "pending", "failed", "succeeded", "succeeded"]
    assert await _ids(api, type="order.shipped") == [shipped["id"]]
    assert await _ids(api, type="order.unknown") == []
    assert await _ids(api, subject_id=subject["id"]) == [failed["id"], created["id"]]
    assert await _ids(api, endpoint_id=ok["id"]) == [shipped["id"], created["id"]]
    assert await _ids(api, endpoint_id=failing["id"]) == [failed["id"]]
    assert await _ids(api, endpoint_id=later["id"]) == [pending["id"]]
    assert await _ids(api, delivery_status="succeeded") == [shipped["id"], created["id"]]
    assert await _ids(api, delivery_status="failed") == [failed["id"]]
    assert await _ids(api, delivery_status="pending") == [pending["id"]]
    assert await _ids(api, delivery_status="succeeded", subject_id=subject["id"]) == [created["id"]]
    assert await _ids(api, type="order.created", delivery_status="failed") == []

    # since is inclusive, until exclusive; both take RFC 3339 or epoch seconds
    assert await _ids(api, since=shipped["created_at"], until=pending["created_at"]) == [failed["id"], shipped["id"]]
    assert await _ids(api, since=pending["created_at"]) == [nowhere["id"], pending["id"]]
    assert await _ids(api, until=shipped["created_at"]) == [created["id"]]
    epoch = datetime.fromisoformat(failed["created_at"].replace("Z", "+00:00")).timestamp()
    assert await _ids(api, since=str(epoch)) == [nowhere["id"], pending["id"], failed["id"]]
    offset = datetime.fromisoformat(failed["created_at"].replace("Z", "+00:00")).astimezone().isoformat()
    assert await _ids(api, since=offset) == [nowhere["id"], pending["id"], failed["id"]]


async def test_cursor_paging_walks_every_event_once(api: Api) -> None:
    published = []
    for chunk in range(3):
        batch = [{"type": "order.created", "data": {"n": chunk * 10 + i}} for i in range(7)]
        published += [e["id"] for e in (await api.post("/v1/events/batch", {"events": batch})).ok()["data"]]
    await api.publish("other.kind", {})  # filtered out below

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        page = (await api.get("/v1/events", params={"limit": 4, "cursor": cursor, "type": "order.created"})).ok()
        assert len(page["data"]) <= 4
        seen += [e["id"] for e in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 6  # 21 events, 4 a page
    assert len(seen) == len(set(seen)) == 21
    assert set(seen) == set(published)
    assert seen == await _ids(api, type="order.created", limit=100)  # the same order as one big page
    times = [e["created_at"] for e in (await api.get("/v1/events", params={"limit": 100})).ok()["data"]]
    assert times == sorted(times, reverse=True)


async def test_a_page_ends_exactly_at_the_last_event(api: Api) -> None:
    await api.post("/v1/events/batch", {"events": [{"type": "order.created", "data": {}} for _ in range(4)]})
    first = (await api.get("/v1/events", params={"limit": 2})).ok()
    second = (await api.get("/v1/events", params={"limit": 2, "cursor": first["next_cursor"]})).ok()
    assert len(second["data"]) == 2 and second["next_cursor"] is None
    assert not {e["id"] for e in first["data"]} & {e["id"] for e in second["data"]}


async def test_event_detail_shows_deliveries_and_attempts(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500, b'{"error":"busy"}'), Answer(200, b'{"ok":true}'))
    endpoint = await api.endpoint(receiver.url + "/hook", retry=FAST)
    subject = (await api.post("/v1/subjects", {"kind": "order"})).ok()
    event = await api.publish("order.created", {"n": 1}, subject_id=subject["id"])
    detail = await api.wait_event(event["id"])
    assert {k: detail[k] for k in ("id", "type", "subject_id", "sequence", "data", "delivery_status")} == {
        "id": event["id"], "type": "order.created", "subject_id": subject["id"], "sequence": 1, "data": {"n": 1},
        "delivery_status": "succeeded"}
    assert detail["tenant_id"] == endpoint["tenant_id"] and detail["created_at"] == event["created_at"]
    [delivery] = detail["deliveries"]
    assert delivery["endpoint_id"] == endpoint["id"] and delivery["url"] == receiver.url + "/hook"
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 2
    assert delivery["next_attempt_at"] is None
    first, second = delivery["attempts"]
    assert first["status_code"] == 500 and first["response_body"] == '{"error":"busy"}' and first["error"] is None
    assert second["status_code"] == 200 and second["response_body"] == '{"ok":true}'
    assert first["at"] < second["at"]
    assert all(isinstance(a["latency_ms"], int | float) and a["latency_ms"] >= 0 for a in (first, second))
    assert first["request_headers"]["webhook-id"] == event["id"]
    assert (await api.get("/v1/events/evt_nope")).status == 404


async def test_redeliver_starts_a_new_cycle_with_the_same_webhook_id(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url, retry=FAST)
    event = await api.publish("order.created", {"n": 1})
    await api.wait_event(event["id"])
    reply = await api.post(f"/v1/events/{event['id']}/redeliver")
    assert reply.status == 202 and reply.body["requeued"] == 1
    first, second = await receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event["id"]
    assert first.body == second.body
    done = await api.wait_event(event["id"])
    [delivery] = done["deliveries"]
    assert delivery["attempt_count"] == 2 and len(delivery["attempts"]) == 2


async def test_redeliver_after_exhaustion_gets_a_full_retry_cycle(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500), Answer(500), Answer(500), Answer(500), Answer(200))
    await api.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [0.1, 0.1]})
    event = await api.publish("order.created", {})
    await api.wait_event(event["id"], "failed")
    assert (await api.post(f"/v1/events/{event['id']}/redeliver")).ok()["requeued"] == 1
    done = await api.wait_event(event["id"])
    assert [a["status_code"] for a in done["deliveries"][0]["attempts"]] == [500, 500, 500, 500, 200]


async def test_recover_requeues_failed_deliveries_in_the_window(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500))
    endpoint = await api.endpoint(receiver.url + "/flaky", retry=NO_RETRY)
    healthy = await api.endpoint(receiver.url + "/other-failing", retry=NO_RETRY)
    early = await api.publish("order.created", {"n": 1})
    await api.wait_event(early["id"], "failed")
    late = await api.publish("order.created", {"n": 2})
    await api.wait_event(late["id"], "failed")
    receiver.script(Answer(200))

    # a window that holds neither event requeues nothing
    none = (await api.post(f"/v1/endpoints/{endpoint['id']}/recover",
                           {"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"})).ok()
    assert none == {"requeued": 0}
    # a window that holds the late event only
    only_late = (await api.post(f"/v1/endpoints/{endpoint['id']}/recover", {"since": late["created_at"]})).ok()
    assert only_late == {"requeued": 1}
    done = await api.wait_event(late["id"], "failed")  # the other endpoint's delivery stays failed
    by_endpoint = {d["endpoint_id"]: d for d in done["deliveries"]}
    assert await _until(lambda: _status_of(api, late["id"], endpoint["id"]), "succeeded")
    assert by_endpoint[healthy["id"]]["status"] == "failed"
    assert await _status_of(api, early["id"], endpoint["id"]) == "failed"

    everything = (await api.post(f"/v1/endpoints/{endpoint['id']}/recover",
                                 {"since": early["created_at"], "until": "2999-01-01T00:00:00Z"})).ok()
    assert everything == {"requeued": 1}  # the late one succeeded already
    assert await _until(lambda: _status_of(api, early["id"], endpoint["id"]), "succeeded")
    paths = [r.path_qs for r in receiver.requests]
    assert paths.count("/flaky") == 4 and paths.count("/other-failing") == 2


async def _status_of(api: Api, event_id: str, endpoint_id: str) -> str:
    detail = (await api.get(f"/v1/events/{event_id}")).ok()
    return next(d["status"] for d in detail["deliveries"] if d["endpoint_id"] == endpoint_id)


async def _until(probe: Any, expected: str, timeout: float = 10.0) -> bool:
    """Poll `probe()` until it answers `expected`."""
    deadline = time.monotonic() + timeout
    while (found := await probe()) != expected:
        assert time.monotonic() < deadline, f"still {found!r}, not {expected!r}"
        await asyncio.sleep(0.05)
    return True


async def test_endpoint_test_reports_the_attempt(api: Api, receiver: Receiver) -> None:
    receiver.handler = _by_path
    good = await api.endpoint(receiver.url + "/good", auth={"type": "bearer", "token": "t-1"})
    bad = await api.endpoint(receiver.url + "/fail")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    closed = await api.endpoint(f"http://127.0.0.1:{closed_port}/hook")

    ok = (await api.post(f"/v1/endpoints/{good['id']}/test")).ok()
    assert ok["ok"] is True and ok["status_code"] == 200 and ok["error"] is None
    assert isinstance(ok["latency_ms"], int | float) and ok["latency_ms"] >= 0
    [request] = receiver.requests
    assert request.path_qs == "/good" and request.headers["authorization"] == "Bearer t-1"
    assert request.json()["type"] == "verihook.test"
    verify(good["signing_secret"], request.headers, request.body)

    failed = (await api.post(f"/v1/endpoints/{bad['id']}/test")).ok()
    assert failed["ok"] is False and failed["status_code"] == 500

    refused = (await api.post(f"/v1/endpoints/{closed['id']}/test")).ok()
    assert refused["ok"] is False and refused["status_code"] is None and refused["error"] == "connect"

    assert (await api.get("/v1/events")).ok()["data"] == []  # a test stores no event
    assert (await api.post("/v1/endpoints/ep_nope/test")).status == 404
