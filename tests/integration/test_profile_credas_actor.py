"""Credas process actor webhook (seed 001): a portal-level URL, set by a reseller inside its child portal."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from tests.support.api import Api
from tests.support.receivers import Receiver

SMS = {0: "Not sent", 1: "Sent", 2: "Delivered", 5: "Bounced"}
EMAIL = {0: "Not sent", 1: "Sent", 2: "Delivered", 3: "Opened", 5: "Bounced"}


@pytest.fixture
async def portals(admin: Api) -> dict[str, Any]:
    reseller = await admin.tenant("reseller", profile="credas")
    as_reseller = admin.as_key(reseller["api_key"])
    child = (await as_reseller.post("/v1/tenants", {"name": "child portal"})).ok()
    stranger = await admin.tenant("another reseller", profile="credas")
    assert child["parent_id"] == reseller["id"] and child["profile"] == "credas"
    return {"reseller": as_reseller, "child": admin.as_key(child["api_key"]), "child_id": child["id"],
            "stranger": admin.as_key(stranger["api_key"])}


def actor_update(client_id: str, process_id: str, entity_id: str, sms: int, email: int) -> dict[str, Any]:
    return {"clientId": client_id, "processId": process_id, "processActorId": 11014, "entityId": entity_id,
            "smsStatus": sms, "emailStatus": email}


async def test_a_reseller_sets_the_child_portal_url_and_a_stranger_cannot(
    portals: dict[str, Any], receiver: Receiver
) -> None:
    reseller, stranger, child_id = portals["reseller"], portals["stranger"], portals["child_id"]
    endpoint = (await reseller.post("/v1/endpoints", {
        "url": receiver.url + "/actors", "tenant_id": child_id, "event_types": ["process_actor.updated"]})).ok()
    assert endpoint["tenant_id"] == child_id and endpoint["profile"] == "credas"

    reply = await stranger.post("/v1/endpoints", {"url": receiver.url + "/evil", "tenant_id": child_id})
    assert reply.status == 404 and reply.content_type.startswith("application/problem+json")
    reply = await stranger.patch(f"/v1/endpoints/{endpoint['id']}", {"url": receiver.url + "/evil"})
    assert reply.status == 404
    moved = (await reseller.patch(f"/v1/endpoints/{endpoint['id']}", {"url": receiver.url + "/v2"})).ok()
    assert moved["url"] == receiver.url + "/v2"
    listed = (await portals["child"].get("/v1/endpoints")).ok()["data"]
    assert [e["url"] for e in listed] == [receiver.url + "/v2"]


async def test_invite_updates_carry_the_seed_body_and_increasing_sequence_numbers(
    portals: dict[str, Any], receiver: Receiver
) -> None:
    child, child_id = portals["child"], portals["child_id"]
    await portals["reseller"].post("/v1/endpoints", {"url": receiver.url + "/actors", "tenant_id": child_id})
    process_url = await Receiver().start()
    try:
        process = (await child.post("/v1/subjects", {"kind": "process", "webhook_url": process_url.url})).ok()
        entity_id = str(uuid.uuid4())
        codes = [(0, 0), (1, 1), (2, 2), (2, 3), (5, 5)]  # every SMS and every e-mail code of the seed tables
        events = []
        for sms, email in codes:
            data = actor_update(child_id, process["id"], entity_id, sms, email)
            events.append(await child.publish("process_actor.updated", data, subject_id=process["id"]))
        for event in events:
            await child.wait_event(event["id"])

        received = sorted(await receiver.wait_for(len(codes)), key=lambda r: int(r.headers["verihook-sequence"]))
        assert [int(r.headers["verihook-sequence"]) for r in received] == [e["sequence"] for e in events]
        assert [e["sequence"] for e in events] == sorted({e["sequence"] for e in events})
        for request, (sms, email) in zip(received, codes, strict=True):
            assert request.path_qs == "/actors"
            assert request.body == orjson.dumps({
                "clientId": child_id, "processId": process["id"], "processActorId": 11014, "entityId": entity_id,
                "smsStatus": sms, "smsStatusDescription": SMS[sms],
                "emailStatus": email, "emailStatusDescription": EMAIL[email]})
            assert request.headers["verihook-subject"] == process["id"]
        assert process_url.requests == []  # the process's own URL is for its completion only
    finally:
        await process_url.stop()


@pytest.mark.parametrize(("change", "field"), [
    ({"smsStatus": 3}, "data.smsStatus"),
    ({"smsStatus": 4}, "data.smsStatus"),
    ({"emailStatus": 4}, "data.emailStatus"),
    ({"emailStatus": "2"}, "data.emailStatus"),
    ({"processActorId": "11014"}, "data.processActorId"),
    ({"processActorId": 11014.5}, "data.processActorId"),
    ({"smsStatusDescription": "SMS delivered successfully"}, "data.smsStatusDescription"),
    ({"entityId": None}, "data.entityId"),
    ({"ProcessId": "x"}, "data"),
])
async def test_unknown_codes_and_other_bodies_are_refused(
    portals: dict[str, Any], receiver: Receiver, change: dict[str, Any], field: str
) -> None:
    child, child_id = portals["child"], portals["child_id"]
    await child.endpoint(receiver.url)
    data = {**actor_update(child_id, str(uuid.uuid4()), str(uuid.uuid4()), 2, 2), **change}
    reply = await child.post("/v1/events", {"type": "process_actor.updated", "data": data})
    assert reply.status == 422 and reply.content_type.startswith("application/problem+json")
    assert reply.body["field"] == field, reply.body
    assert (await child.get("/v1/events")).ok()["data"] == []


async def test_a_whole_number_id_is_sent_as_an_integer(portals: dict[str, Any], receiver: Receiver) -> None:
    child, child_id = portals["child"], portals["child_id"]
    await child.endpoint(receiver.url)
    data = {**actor_update(child_id, "p", "e", 5, 3), "processActorId": 11014.0, "smsStatus": 5.0}
    await child.publish("process_actor.updated", data)
    [request] = await receiver.wait_for(1)
    assert b'"processActorId":11014,' in request.body and b'"smsStatus":5,' in request.body
    assert request.json()["smsStatusDescription"] == "Bounced"
