"""Subjects: create, read (the pull fallback: status, history, data), status changes that publish, filters."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver

FAST = {"strategy": "schedule", "delays_s": [0.2, 0.2]}


async def test_create_and_read_a_subject(api: Api) -> None:
    made = (await api.post("/v1/subjects", {"kind": "validation", "external_id": "crm-42", "status": "pending",
                                            "data": {"document": "passport"}})).ok()
    assert made["id"].startswith("sub_") and made["kind"] == "validation" and made["external_id"] == "crm-42"
    assert made["status"] == "pending" and made["data"] == {"document": "passport"}
    assert made["webhook_url"] is None and made["sequence"] == 0
    assert [h["status"] for h in made["history"]] == ["pending"]

    read = (await api.get(f"/v1/subjects/{made['id']}")).ok()
    assert {k: read[k] for k in ("id", "kind", "external_id", "status", "data", "history")} == {
        k: made[k] for k in ("id", "kind", "external_id", "status", "data", "history")}
    assert read["delivery_status"] is None

    named = (await api.post("/v1/subjects", {"kind": "process", "id": "proc-0001"})).ok()
    assert named["id"] == "proc-0001" and named["status"] is None and named["history"] == []
    again = await api.post("/v1/subjects", {"kind": "process", "id": "proc-0001"})
    assert again.status == 409 and again.body["field"] == "id"
    assert (await api.get("/v1/subjects/sub_nope")).status == 404


async def test_a_status_change_records_history_and_publishes(api: Api, receiver: Receiver) -> None:
    endpoint = await api.endpoint(receiver.url, retry=FAST)
    subject = (await api.post("/v1/subjects", {"kind": "validation", "external_id": "crm-7", "status": "created",
                                               "data": {"score": None}})).ok()
    changed = await api.patch(f"/v1/subjects/{subject['id']}", {"status": "in_review"})
    assert changed.status == 200
    assert changed.body["status"] == "in_review" and changed.body["data"] == {"score": None}  # data kept
    event = changed.body["event"]
    assert event["type"] == "subject.status_changed" and event["subject_id"] == subject["id"]
    assert event["sequence"] == 1
    assert event["data"]["status"] == "in_review" and event["data"]["previous_status"] == "created"
    assert [d["endpoint_id"] for d in event["deliveries"]] == [endpoint["id"]]

    done = (await api.patch(f"/v1/subjects/{subject['id']}", {"status": "approved",
                                                               "data": {"score": 0.97}})).ok()
    assert done["status"] == "approved" and done["data"] == {"score": 0.97} and done["event"]["sequence"] == 2

    first, second = sorted(await receiver.wait_for(2), key=lambda r: int(r.headers["verihook-sequence"]))
    assert first.json()["data"]["status"] == "in_review"
    assert second.json()["data"]["status"] == "approved" and second.json()["data"]["data"] == {"score": 0.97}
    assert second.json()["data"]["external_id"] == "crm-7"

    read = (await api.get(f"/v1/subjects/{subject['id']}")).ok()
    assert read["status"] == "approved" and read["data"] == {"score": 0.97} and read["sequence"] == 2
    history = read["history"]
    assert [h["status"] for h in history] == ["created", "in_review", "approved"]
    assert history[0]["event_id"] is None
    assert [h["event_id"] for h in history[1:]] == [event["id"], done["event"]["id"]]
    assert history == sorted(history, key=lambda h: h["at"])
    await api.wait_event(done["event"]["id"])
    read = (await api.get(f"/v1/subjects/{subject['id']}")).ok()
    assert read["delivery_status"] == "succeeded"
    assert read["deliveries"]["succeeded"] == 2


async def test_a_status_change_reaches_the_subjects_own_url(api: Api, receiver: Receiver) -> None:
    subject = (await api.post("/v1/subjects", {"kind": "process", "webhook_url": receiver.url + "/own?ref=1"})).ok()
    changed = (await api.patch(f"/v1/subjects/{subject['id']}", {"status": "completed"})).ok()
    [delivery] = changed["event"]["deliveries"]
    assert delivery["endpoint_id"] is None and delivery["url"] == receiver.url + "/own?ref=1"
    [request] = await receiver.wait_for(1)
    assert request.path_qs == "/own?ref=1" and request.json()["data"]["status"] == "completed"


def _answer_by_type(received: Received) -> Answer:
    return Answer(500) if "/fail" in received.path_qs else Answer(200)


async def _subject_ids(api: Api, **params: Any) -> set[str]:
    return {s["id"] for s in (await api.get("/v1/subjects", params=params)).ok()["data"]}


async def test_subjects_filtered_by_delivery_status_and_kind(api: Api, receiver: Receiver) -> None:
    receiver.handler = _answer_by_type
    await api.endpoint(receiver.url + "/ok", event_types=["check.ok"], retry={"strategy": "none"})
    await api.endpoint(receiver.url + "/fail", event_types=["check.failed"], retry={"strategy": "none"})
    await api.endpoint(receiver.url + "/fail-later", event_types=["check.pending"],
                       retry={"strategy": "schedule", "delays_s": [3600]})
    kinds = {"ok": "validation", "failed": "validation", "mixed": "validation", "pending": "process",
             "quiet": "process"}
    subjects = {name: (await api.post("/v1/subjects", {"kind": kind})).ok()["id"] for name, kind in kinds.items()}
    events = [
        await api.publish("check.ok", {}, subject_id=subjects["ok"]),
        await api.publish("check.ok", {}, subject_id=subjects["ok"]),
        await api.publish("check.failed", {}, subject_id=subjects["failed"]),
        await api.publish("check.ok", {}, subject_id=subjects["mixed"]),
        await api.publish("check.failed", {}, subject_id=subjects["mixed"]),
        await api.publish("check.pending", {}, subject_id=subjects["pending"]),
    ]
    for event in events:
        if event["type"] != "check.pending":
            await api.wait_event(event["id"], "failed" if event["type"] == "check.failed" else "succeeded")
    await receiver.wait_for(6)

    assert await _subject_ids(api, delivery_status="failed") == {subjects["failed"], subjects["mixed"]}
    assert await _subject_ids(api, delivery_status="succeeded") == {subjects["ok"]}
    assert await _subject_ids(api, delivery_status="pending") == {subjects["pending"]}
    assert await _subject_ids(api, kind="process") == {subjects["pending"], subjects["quiet"]}
    assert await _subject_ids(api, kind="validation", delivery_status="failed") == {subjects["failed"],
                                                                                    subjects["mixed"]}
    assert await _subject_ids(api) == set(subjects.values())
    mixed = (await api.get(f"/v1/subjects/{subjects['mixed']}")).ok()
    assert mixed["delivery_status"] == "failed" and mixed["deliveries"] == {"pending": 0, "succeeded": 1,
                                                                           "failed": 1, "skipped": 0}


async def test_every_event_of_one_subject(api: Api) -> None:
    subject = (await api.post("/v1/subjects", {"kind": "process"})).ok()
    other = (await api.post("/v1/subjects", {"kind": "process"})).ok()
    mine = []
    for n in range(5):
        mine.append((await api.publish("process.updated", {"n": n}, subject_id=subject["id"]))["id"])
        await api.publish("process.updated", {"n": n}, subject_id=other["id"])
    await api.publish("process.updated", {"n": 9})
    changed = (await api.patch(f"/v1/subjects/{subject['id']}", {"status": "done"})).ok()
    mine.append(changed["event"]["id"])

    listed = (await api.get(f"/v1/subjects/{subject['id']}/events")).ok()
    assert [e["id"] for e in listed["data"]] == mine[::-1]  # newest first
    assert [e["sequence"] for e in listed["data"]] == [6, 5, 4, 3, 2, 1]
    assert listed["next_cursor"] is None

    first = (await api.get(f"/v1/subjects/{subject['id']}/events", params={"limit": 4})).ok()
    rest = (await api.get(f"/v1/subjects/{subject['id']}/events",
                          params={"limit": 4, "cursor": first["next_cursor"]})).ok()
    assert [e["id"] for e in first["data"] + rest["data"]] == mine[::-1] and rest["next_cursor"] is None
    assert (await api.get("/v1/subjects/sub_nope/events")).status == 404
