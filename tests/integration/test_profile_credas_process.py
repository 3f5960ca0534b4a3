"""Credas process webhook (seed 000), walked through as a Credas customer would see it."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from tests.support.api import Api
from tests.support.receivers import Receiver
from verihook.receiver import verify

QUERY = "?our-reference=1232323&ref=a%2Fb%20c&empty=&dup=1&dup=2"


@pytest.fixture
async def credas(admin: Api) -> tuple[Api, dict[str, Any]]:
    tenant = await admin.tenant("Credas client portal", profile="credas")
    return admin.as_key(tenant["api_key"]), tenant


async def test_a_completed_process_reports_once_to_its_own_url(
    credas: tuple[Api, dict[str, Any]], receiver: Receiver
) -> None:
    api, tenant = credas
    portal = await Receiver().start()
    try:
        endpoint = await api.endpoint(portal.url + "/actors")
        process_id = str(uuid.uuid4())
        details = {"entityId": str(uuid.uuid4()), "checks": {"aml": "pass", "id": "pass"}}
        created = (await api.post("/v1/subjects", {
            "kind": "process", "id": process_id, "webhook_url": receiver.url + "/updates" + QUERY,
            "data": details})).ok()
        assert created["webhook_url"] == receiver.url + "/updates" + QUERY

        # the tenant's endpoints change afterwards: where this process reports does not
        await api.patch(f"/v1/endpoints/{endpoint['id']}", {"url": portal.url + "/moved"})
        await api.endpoint(portal.url + "/another")

        changed = (await api.patch(f"/v1/subjects/{process_id}", {"status": "2"})).ok()
        event = await api.wait_event(changed["event"]["id"])

        [request] = await receiver.wait_for(1)
        assert request.method == "POST"
        assert request.path_qs == "/updates" + QUERY
        assert request.body == orjson.dumps({"ProcessId": process_id, "ClientId": tenant["id"], "Status": 2,
                                             "StatusDescription": "The process is complete"})
        assert request.headers["content-type"] == "application/json"
        [delivery] = event["deliveries"]
        assert delivery["endpoint_id"] is None and delivery["url"] == receiver.url + "/updates" + QUERY
        assert portal.requests == []

        # the receiver checks the signature with the tenant's secret, then pulls the results by ProcessId
        secret = (await api.get(f"/v1/tenants/{tenant['id']}/secrets")).ok()["signing_secret"]
        verify(secret, request.headers, request.body)
        pulled = (await api.get(f"/v1/subjects/{request.json()['ProcessId']}")).ok()
        assert pulled["status"] == "2" and pulled["data"] == details
        assert [h["status"] for h in pulled["history"]] == ["2"]

        # a process completes once: telling it again sends nothing
        again = (await api.patch(f"/v1/subjects/{process_id}", {"status": "2"})).ok()
        assert again["event"] is None
        assert len(receiver.requests) == 1
    finally:
        await portal.stop()


async def test_the_webhook_url_is_fixed_at_creation(credas: tuple[Api, dict[str, Any]], receiver: Receiver) -> None:
    api, _ = credas
    created = (await api.post("/v1/subjects", {"kind": "process", "webhook_url": receiver.url + "/a"})).ok()
    uuid.UUID(created["id"])  # a process created without an id gets a GUID, as Credas ids are
    reply = await api.patch(f"/v1/subjects/{created['id']}", {"status": "2", "webhook_url": receiver.url + "/b"})
    assert reply.status == 422 and reply.body["field"] == "webhook_url"
    assert (await api.get(f"/v1/subjects/{created['id']}")).ok()["webhook_url"] == receiver.url + "/a"


async def test_only_the_documented_status_is_accepted(credas: tuple[Api, dict[str, Any]], receiver: Receiver) -> None:
    api, tenant = credas
    created = (await api.post("/v1/subjects", {"kind": "process", "webhook_url": receiver.url})).ok()
    reply = await api.patch(f"/v1/subjects/{created['id']}", {"status": "3"})
    assert reply.status == 422 and reply.content_type.startswith("application/problem+json")
    assert reply.body["field"] == "status" and "'2'" in reply.body["detail"]
    assert (await api.get(f"/v1/subjects/{created['id']}")).ok()["status"] is None

    bad = {"ProcessId": created["id"], "ClientId": tenant["id"], "Status": 3}
    reply = await api.post("/v1/events", {"type": "process.completed", "data": bad})
    assert reply.status == 422 and reply.body["field"] == "data.Status"
    wrong_text = {**bad, "Status": 2, "StatusDescription": "Done"}
    reply = await api.post("/v1/events", {"type": "process.completed", "data": wrong_text})
    assert reply.status == 422 and reply.body["field"] == "data.StatusDescription"
    extra = {**bad, "Status": 2, "processId": "x"}
    reply = await api.post("/v1/events", {"type": "process.completed", "data": extra})
    assert reply.status == 422 and "processId" in reply.body["detail"]
    assert (await api.get("/v1/events")).ok()["data"] == []


async def test_a_published_completion_goes_to_the_process_url_and_only_to_endpoints_that_ask(
    credas: tuple[Api, dict[str, Any]], receiver: Receiver
) -> None:
    api, tenant = credas
    every = await Receiver().start()
    asking = await Receiver().start()
    try:
        await api.endpoint(every.url)
        await api.endpoint(asking.url, event_types=["process.completed"])
        created = (await api.post("/v1/subjects", {"kind": "process", "webhook_url": receiver.url})).ok()
        data = {"ProcessId": created["id"], "ClientId": tenant["id"], "Status": 2.0}
        event = await api.publish("process.completed", data, subject_id=created["id"])
        assert event["data"]["StatusDescription"] == "The process is complete"
        await api.wait_event(event["id"])
        expected = orjson.dumps({**data, "Status": 2, "StatusDescription": "The process is complete"})
        assert [r.body for r in receiver.requests] == [expected]
        assert [r.body for r in asking.requests] == [expected]
        assert every.requests == []
    finally:
        await every.stop()
        await asking.stop()


async def test_the_catalog_lists_the_credas_types(api: Api) -> None:
    catalog = {t["name"]: t for t in (await api.get("/v1/event-types")).ok()["data"]}
    process = catalog["process.completed"]
    assert process["profile"] == "credas"
    assert process["schema"]["required"] == ["ProcessId", "ClientId", "Status"]
    assert catalog["process_actor.updated"]["profile"] == "credas"
