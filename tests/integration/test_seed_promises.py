"""Seed promises that hold against real receivers: 410 disables only `standard` endpoints; Incode's
`{"success": false}` is not a success and is not retried."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver


@pytest.mark.parametrize("profile", ["attestr", "incode", "credas"])
async def test_a_410_leaves_a_seed_profile_endpoint_enabled(admin: Api, receiver: Receiver, profile: str) -> None:
    client = admin.as_key((await admin.tenant(f"{profile} client", profile=profile))["api_key"])
    attempts = 1 if profile == "attestr" else 2  # Attestr sends once; Incode's retry (and Credas's) get a 410 too
    receiver.script(*[Answer(410, b"", None)] * attempts, Answer(200, b"{}", "application/json"))
    event_type = {"attestr": "async.completed", "incode": "watchlist.updated",
                  "credas": "process_actor.updated"}[profile]
    data = {"attestr": {"_id": "a1"}, "incode": {"interviewId": "i", "ref": "r", "search_id": "s"},
            "credas": {"clientId": "c", "processId": "p", "processActorId": 1, "entityId": "e", "smsStatus": 2,
                       "emailStatus": 2}}[profile]
    retry = {"retry": {"strategy": "schedule", "delays_s": [0.1]}} if profile == "credas" else {}
    endpoint = await client.endpoint(receiver.url, **retry)
    first = await client.publish(event_type, data)
    failed = await client.wait_event(first["id"], "failed", timeout=20)
    [delivery] = failed["deliveries"]
    assert [a["status_code"] for a in delivery["attempts"]] == [410] * attempts

    shown = (await client.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert (shown["enabled"], shown["disabled_reason"]) == (True, None)
    later = await client.publish(event_type, data)
    assert len(later["deliveries"]) == 1  # not dropped
    await client.wait_event(later["id"], timeout=20)
    assert len(receiver.requests) == len(delivery["attempts"]) + 1


async def test_a_410_disables_a_standard_endpoint(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(410))
    endpoint = await api.endpoint(receiver.url)
    await api.wait_event((await api.publish())["id"], "failed")
    shown = (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert shown["enabled"] is False and "410" in shown["disabled_reason"]


@pytest.mark.parametrize(("body", "delivered"), [
    (b'{"success": false}', False),
    (b'{"success":false,"reason":"unknown interview"}', False),
    (b'{"success": true}', True),
    (b'{"received": true}', True),
    (b'[false]', True),
])
async def test_an_incode_200_saying_success_false_is_a_failure_and_not_retried(
    admin: Api, receiver: Receiver, body: bytes, delivered: bool
) -> None:
    incode = admin.as_key((await admin.tenant("incode client", profile="incode"))["api_key"])
    receiver.script(Answer(200, body, "application/json"))
    await incode.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [0.1]})
    event = await incode.publish("watchlist.updated", {"interviewId": "i", "ref": "r", "search_id": "s"})
    done = await incode.wait_event(event["id"], "succeeded" if delivered else "failed")
    [delivery] = done["deliveries"]
    assert delivery["attempt_count"] == 1 and delivery["last_status_code"] == 200
    assert len(receiver.requests) == 1
