"""`delivery_status` takes a list: `pending,failed` is every event (or subject) not delivered successfully yet,
retries waiting included."""

from __future__ import annotations

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver


async def test_pending_and_failed_together_are_everything_not_delivered_yet(api: Api, receiver: Receiver) -> None:
    def answer(request) -> Answer:  # type: ignore[no-untyped-def]
        return Answer(200) if request.json()["data"]["outcome"] == "ok" else Answer(500)

    receiver.handler = answer
    waiting = await api.endpoint(receiver.url + "/waiting", event_types=["order.waiting"],
                                 retry={"strategy": "schedule", "delays_s": [3600]})
    assert waiting["retry"]["delays_s"] == [3600]
    await api.endpoint(receiver.url + "/once", event_types=["order.ok", "order.failed"],
                       retry={"strategy": "none"})
    subjects = {}
    for outcome in ("ok", "failed", "waiting"):
        subjects[outcome] = (await api.post("/v1/subjects", {"kind": "order"})).ok()["id"]
    ok = await api.publish("order.ok", {"outcome": "ok"}, subject_id=subjects["ok"])
    failed = await api.publish("order.failed", {"outcome": "failed"}, subject_id=subjects["failed"])
    retrying = await api.publish("order.waiting", {"outcome": "waiting"}, subject_id=subjects["waiting"])
    await api.wait_event(ok["id"])
    await api.wait_event(failed["id"], "failed")
    await receiver.wait_for(3)

    async def listed(path: str, value: str) -> set[str]:
        return {item["id"] for item in (await api.get(path, params={"delivery_status": value})).ok()["data"]}

    assert await listed("/v1/events", "pending,failed") == {failed["id"], retrying["id"]}
    assert await listed("/v1/events", "failed") == {failed["id"]}
    assert await listed("/v1/events", "pending") == {retrying["id"]}
    assert await listed("/v1/events", "succeeded, pending") == {ok["id"], retrying["id"]}
    assert await listed("/v1/events", "failed,pending,succeeded") == {ok["id"], failed["id"], retrying["id"]}
    assert await listed("/v1/subjects", "pending,failed") == {subjects["failed"], subjects["waiting"]}
    assert await listed(f"/v1/subjects/{subjects['waiting']}/events", "pending,failed") == {retrying["id"]}
    for bad in ("pending,exhausted", "", "pending,,failed"):
        reply = await api.get("/v1/events", params={"delivery_status": bad})
        assert reply.status == 422 and reply.body["field"] == "delivery_status", (bad, reply.body)
        assert "pending,failed" in reply.body["detail"]
