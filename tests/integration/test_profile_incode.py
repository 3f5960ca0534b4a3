"""Incode webhooks (seed 004): OAuth2 token fetch, Bearer notifications, 200+JSON or 204, one identical retry."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.seed_servers import TokenServer
from verihook.receiver import verify
from verihook.times import parse_time

FAST_RETRY = {"strategy": "schedule", "delays_s": [0.1]}  # outside Incode's rule: only the admin key may set it


@pytest.fixture
async def incode_tenant(admin: Api) -> dict[str, Any]:
    return await admin.tenant("incode client", profile="incode")


@pytest.fixture
async def incode(admin: Api, incode_tenant: dict[str, Any]) -> Api:
    return admin.as_key(incode_tenant["api_key"])


@pytest.fixture
async def tokens() -> AsyncIterator[TokenServer]:
    server = await TokenServer(expires_in=2).start()
    yield server
    await server.stop()


def oauth2(tokens: TokenServer) -> dict[str, str]:
    return {"type": "oauth2", "token_url": tokens.url, "client_id": "incode-client", "client_secret": "s3cret/+="}


async def interview(api: Api, interview_id: str, external_id: str | None = None) -> None:
    (await api.post("/v1/subjects", {"kind": "interview", "id": interview_id, "external_id": external_id})).ok()


async def change(api: Api, interview_id: str, status: str) -> dict[str, Any]:
    return (await api.patch(f"/v1/subjects/{interview_id}", {"status": status})).ok()["event"]


async def test_the_token_is_fetched_as_documented_and_reused_until_it_expires(
    incode: Api, receiver: Receiver, tokens: TokenServer
) -> None:
    receiver.handler = tokens.guard(Answer(204, b"", None))
    await incode.endpoint(receiver.url, auth=oauth2(tokens), event_types=["onboarding.status_changed"])
    await interview(incode, "int-1")
    for status in ("ID_VALIDATION_FINISHED", "FACE_VALIDATION_FINISHED"):
        await incode.wait_event((await change(incode, "int-1", status))["id"])
    [token_request] = tokens.requests
    assert token_request.method == "POST"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = "Basic " + base64.b64encode(b"incode-client:s3cret/+=").decode()
    assert token_request.headers["authorization"] == expected
    assert token_request.body == b"grant_type=client_credentials"

    await asyncio.sleep(max(0.0, tokens.expiry["token-1"] - time.time()))  # expires_in runs out
    await incode.wait_event((await change(incode, "int-1", "ONBOARDING_FINISHED"))["id"])
    assert [r.headers["authorization"] for r in receiver.requests] == ["Bearer token-1"] * 2 + ["Bearer token-2"]
    assert len(tokens.requests) == 2


async def test_the_onboarding_body_and_its_status_values(incode: Api, receiver: Receiver) -> None:
    await incode.endpoint(receiver.url)
    await interview(incode, "int-ext", external_id="crm-42")
    await interview(incode, "int-plain")
    await incode.wait_event((await change(incode, "int-ext", "ID_VALIDATION_FINISHED_SECOND_ID"))["id"])
    await incode.wait_event((await change(incode, "int-plain", "MANUAL_REVIEW_APPROVED"))["id"])
    assert [r.body for r in receiver.requests] == [
        orjson.dumps({"interviewId": "int-ext", "externalId": "crm-42",
                      "onboardingStatus": "ID_VALIDATION_FINISHED_SECOND_ID"}),
        orjson.dumps({"interviewId": "int-plain", "onboardingStatus": "MANUAL_REVIEW_APPROVED"}),
    ]

    assert await change(incode, "int-plain", "UNKNOWN") is None  # a status an interview has, never sent
    reply = await incode.post("/v1/events", {"type": "onboarding.status_changed",
                                             "data": {"interviewId": "i", "onboardingStatus": "UNKNOWN"}})
    assert reply.status == 422 and reply.body["field"] == "data.onboardingStatus"
    assert "never sent" in reply.body["detail"]
    reply = await incode.patch("/v1/subjects/int-plain", {"status": "ONBOARDING_DONE"})
    assert reply.status == 422 and reply.body["field"] == "status"
    reply = await incode.post("/v1/events", {"type": "onboarding.status_changed",
                                             "data": {"interviewId": "i", "onboardingStatus": "ONBOARDING_FINISHED",
                                                      "externalId": None}})
    assert reply.status == 422 and reply.body["field"] == "data.externalId"
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(("answer", "delivered"), [
    (Answer(200, b'{"success":true}', "application/json"), True),
    (Answer(200, b'{"success":true}', "application/json; charset=utf-8"), True),
    (Answer(204, b"", None), True),
    (Answer(200, b"OK", "text/plain"), False),
    (Answer(200, b"", None), False),
    (Answer(201, b'{"success":true}', "application/json"), False),
    (Answer(500, b'{"success":false}', "application/json"), False),
    (Answer(200, b'{"success":true}', "application/json", delay_s=1.0), False),  # a timeout
])
async def test_success_is_200_with_json_or_204_and_anything_else_is_retried_once(
    incode: Api, admin: Api, incode_tenant: dict[str, Any], receiver: Receiver, answer: Answer, delivered: bool
) -> None:
    receiver.script(answer)
    await admin.endpoint(receiver.url, tenant_id=incode_tenant["id"], retry=FAST_RETRY, timeout_s=0.5)
    await interview(incode, "int-1")
    event = await change(incode, "int-1", "ONBOARDING_FINISHED")
    done = await incode.wait_event(event["id"], "succeeded" if delivered else "failed")
    assert done["deliveries"][0]["attempt_count"] == (1 if delivered else 2)
    requests = await receiver.wait_for(1 if delivered else 2)
    assert len(requests) == (1 if delivered else 2)
    assert len({r.body for r in requests}) == 1


async def test_the_one_retry_is_the_same_request_within_10_s(
    incode: Api, receiver: Receiver, tokens: TokenServer
) -> None:
    tokens.expires_in = 3600
    guard = tokens.guard(Answer(500, b'{"success":false}'))
    receiver.handler = guard
    endpoint = await incode.endpoint(receiver.url + "/incode?client=acme", auth=oauth2(tokens),
                                     headers={"X-Api-Key": "static-key", "X-Tenant": "acme"})
    assert endpoint["retry"] == {"strategy": "schedule", "delays_s": [5], "jitter": 0}
    assert endpoint["success"] == "200-json-or-204"
    await interview(incode, "int-1", external_id="ext-1")
    event = await change(incode, "int-1", "GOVERNMENT_VALIDATION_FINISHED")
    failed = await incode.wait_event(event["id"], "failed", timeout=15)

    first, second = receiver.requests
    assert second.body == first.body
    assert second.headers == first.headers
    assert second.path_qs == first.path_qs == "/incode?client=acme"
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature", "authorization", "x-api-key"):
        assert name in first.headers
    assert 0 < second.at - first.at < 10
    [delivery] = failed["deliveries"]
    assert delivery["attempt_count"] == 2 and delivery["next_attempt_at"] is None


async def test_a_redelivered_cycle_is_signed_afresh_and_its_retry_stays_identical(
    incode: Api, admin: Api, incode_tenant: dict[str, Any], receiver: Receiver
) -> None:
    receiver.script(Answer(500))
    endpoint = await admin.endpoint(receiver.url, tenant_id=incode_tenant["id"], retry=FAST_RETRY)
    await interview(incode, "int-1")
    event = await change(incode, "int-1", "ONBOARDING_FINISHED")
    await incode.wait_event(event["id"], "failed")
    await asyncio.sleep(1.1)  # the next cycle starts in a later second

    redelivered_at = time.time()
    (await incode.post(f"/v1/events/{event['id']}/redeliver")).ok()
    await incode.wait_event(event["id"], "failed")

    first_cycle, second_cycle = receiver.requests[:2], receiver.requests[2:]
    assert len(second_cycle) == 2
    assert second_cycle[0].headers == second_cycle[1].headers  # still one identical retry within the cycle
    stamp = int(second_cycle[0].headers["webhook-timestamp"])
    assert stamp > int(first_cycle[0].headers["webhook-timestamp"])
    assert abs(stamp - redelivered_at) <= 1  # fresh: a receiver's 5-minute tolerance accepts it
    secret = (await incode.get(f"/v1/endpoints/{endpoint['id']}/secrets")).ok()["signing_secret"]
    verify(secret, second_cycle[0].headers, second_cycle[0].body)


async def test_the_newer_backoff_is_selectable(incode: Api, receiver: Receiver) -> None:
    explicit = {"strategy": "exponential", "initial_s": 30, "factor": 2.5, "max_attempts": 5}
    five = await incode.endpoint(receiver.url, retry=explicit)
    assert {k: five["retry"][k] for k in explicit} == explicit
    preset = await incode.endpoint(receiver.url + "/b", retry={"preset": "incode-backoff-5-attempts"})
    assert preset["retry"] == five["retry"]
    reply = await incode.post("/v1/endpoints", {"url": receiver.url, "retry": {"preset": "incode-forever"}})
    assert reply.status == 422 and reply.body["field"] == "retry.preset"
    assert "incode-backoff" in reply.body["detail"]
    await incode.delete(f"/v1/endpoints/{five['id']}")

    receiver.script(Answer(500))
    changed = (await incode.patch(f"/v1/endpoints/{preset['id']}", {"retry": {"preset": "incode-backoff"}})).ok()
    assert changed["retry"] == {"strategy": "exponential", "initial_s": 30, "factor": 2.5, "max_attempts": 6,
                                "max_delay_s": 36000, "jitter": 0}
    await interview(incode, "int-1")
    event = await change(incode, "int-1", "ONBOARDING_FINISHED")
    await receiver.wait_for(1)
    deadline = time.monotonic() + 10
    while True:
        [delivery] = (await incode.get(f"/v1/events/{event['id']}")).ok()["deliveries"]
        if delivery["attempt_count"] == 1 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert delivery["status"] == "pending"
    waited = parse_time(delivery["next_attempt_at"], "next") - parse_time(delivery["attempts"][0]["at"], "at")
    assert 29 < waited < 31.5


async def test_watchlist_updates_go_to_their_own_url_with_the_static_headers(
    incode: Api, receiver: Receiver
) -> None:
    watchlist = await Receiver().start()
    try:
        headers = {"X-Api-Key": "static-key"}
        await incode.endpoint(receiver.url + "/onboarding", event_types=["onboarding.status_changed"],
                              headers=headers)
        await incode.endpoint(watchlist.url + "/watchlist", event_types=["watchlist.updated"], headers=headers)
        await interview(incode, "int-1")
        data = {"interviewId": "int-1", "ref": "ref-77", "search_id": "srch-9"}
        published = await incode.publish("watchlist.updated", data, subject_id="int-1")
        onboarding = await change(incode, "int-1", "ONBOARDING_FINISHED")
        await incode.wait_event(published["id"])
        await incode.wait_event(onboarding["id"])

        [hit] = watchlist.requests
        assert hit.path_qs == "/watchlist" and hit.body == orjson.dumps(data)
        [onboarded] = receiver.requests
        assert onboarded.path_qs == "/onboarding" and onboarded.json()["onboardingStatus"] == "ONBOARDING_FINISHED"
        assert hit.headers["x-api-key"] == onboarded.headers["x-api-key"] == "static-key"

        reply = await incode.post("/v1/events", {"type": "watchlist.updated",
                                                 "data": {"interviewId": "int-1", "ref": "ref-77"}})
        assert reply.status == 422 and "search_id" in reply.body["detail"]
    finally:
        await watchlist.stop()
