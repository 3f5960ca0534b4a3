"""Seed promises that hold against real receivers: 410 leaves a seed profile's endpoint enabled (the rule for every
seed profile is pinned in tests/dispatcher/test_retry_rules.py); Incode's
`{"success": false}` is not a success and is not retried; what a seed fixes is a rule for a tenant key (the admin
key may set it otherwise); an endpoint's test sends a sample event of its profile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver


async def test_a_410_leaves_a_seed_profile_endpoint_enabled(admin: Api, receiver: Receiver) -> None:
    """End to end for Attestr; the rule for every seed profile is pinned in tests/dispatcher/test_retry_rules.py."""
    client = admin.as_key((await admin.tenant("attestr client", profile="attestr"))["api_key"])
    receiver.script(Answer(410, b"", None), Answer(200, b"{}", "application/json"))
    endpoint = await client.endpoint(receiver.url)
    first = await client.publish("async.completed", {"_id": "a1"})
    failed = await client.wait_event(first["id"], "failed", timeout=20)
    [delivery] = failed["deliveries"]
    assert [a["status_code"] for a in delivery["attempts"]] == [410]  # Attestr sends once

    shown = (await client.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert (shown["enabled"], shown["disabled_reason"]) == (True, None)
    later = await client.publish("async.completed", {"_id": "a1"})
    assert len(later["deliveries"]) == 1  # not dropped
    await client.wait_event(later["id"], timeout=20)
    assert len(receiver.requests) == 2


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
    incode, tenant_id = await seed_client(admin, "incode")
    receiver.script(Answer(200, body, "application/json"))
    # a fast retry (only the admin key may set it) shows that none is made
    await admin.endpoint(receiver.url, tenant_id=tenant_id, retry={"strategy": "schedule", "delays_s": [0.1]})
    event = await incode.publish("watchlist.updated", {"interviewId": "i", "ref": "r", "search_id": "s"})
    done = await incode.wait_event(event["id"], "succeeded" if delivered else "failed")
    [delivery] = done["deliveries"]
    assert delivery["attempt_count"] == 1 and delivery["last_status_code"] == 200
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 1


OAUTH2 = {"type": "oauth2", "token_url": "https://127.0.0.1:9/token", "client_id": "c", "client_secret": "s"}


async def seed_client(admin: Api, profile: str) -> tuple[Api, str]:
    tenant = await admin.tenant(f"{profile} client", profile=profile)
    return admin.as_key(tenant["api_key"]), tenant["id"]


def refused(reply: Any, field: str, profile: str) -> None:
    assert reply.status == 422, reply.body
    assert reply.body["field"] == field and f"profile {profile}" in reply.body["detail"], reply.body
    assert "admin key" in reply.body["detail"]


@pytest.mark.parametrize(("field", "value"), [
    ("timeout_s", 30), ("retry", {"strategy": "schedule", "delays_s": [5, 60]}), ("success", "2xx"),
    ("auth", {"type": "bearer", "token": "t"}), ("auth", {"type": "none"}),
])
async def test_attestr_promises_are_rules_for_a_tenant_key(admin: Api, receiver: Receiver, field: str,
                                                            value: Any) -> None:
    attestr, tenant_id = await seed_client(admin, "attestr")
    refused(await attestr.post("/v1/endpoints", {"url": receiver.url, field: value}), field, "attestr")
    webhook = await attestr.endpoint(receiver.url)
    refused(await attestr.patch(f"/v1/endpoints/{webhook['id']}", {field: value}), field, "attestr")
    # what the seed fixes may be restated; the admin key may change it
    assert (await attestr.patch(f"/v1/endpoints/{webhook['id']}", {"timeout_s": 5, "success": "200",
                                                                   "retry": {"strategy": "none"}})).status == 200
    by_admin = (await admin.patch(f"/v1/endpoints/{webhook['id']}", {field: value})).ok()
    assert by_admin[field] == value or field == "auth" or field == "retry"
    assert (await admin.post("/v1/endpoints", {"url": receiver.url, "tenant_id": tenant_id, field: value})).status \
        == 201
    # a tenant key may still change what the seed leaves open on the admin's endpoint
    assert (await attestr.patch(f"/v1/endpoints/{webhook['id']}", {"description": "mine"})).status == 200


async def test_a_standard_endpoint_of_an_attestr_tenant_is_free(admin: Api, receiver: Receiver) -> None:
    attestr, _ = await seed_client(admin, "attestr")
    made = await attestr.endpoint(receiver.url, profile="standard", timeout_s=30, success="2xx")
    assert (made["timeout_s"], made["success"]) == (30, "2xx")
    refused(await attestr.patch(f"/v1/endpoints/{made['id']}", {"profile": "attestr"}), "timeout_s", "attestr")


async def test_incode_success_and_retry_are_rules_the_timeout_is_not(admin: Api, receiver: Receiver) -> None:
    incode, _ = await seed_client(admin, "incode")
    refused(await incode.post("/v1/endpoints", {"url": receiver.url, "success": "2xx"}), "success", "incode")
    refused(await incode.post("/v1/endpoints", {"url": receiver.url,
                                                "retry": {"strategy": "schedule", "delays_s": [1, 1, 1]}}),
            "retry", "incode")
    refused(await incode.post("/v1/endpoints", {"url": receiver.url, "retry": {"strategy": "none"}}),
            "retry", "incode")
    for preset in ("incode-one-retry", "incode-backoff", "incode-backoff-5-attempts"):
        assert (await incode.post("/v1/endpoints", {"url": receiver.url, "retry": {"preset": preset}})).status == 201
    same = {"strategy": "exponential", "initial_s": 30, "factor": 2.5, "max_attempts": 6}
    assert (await incode.post("/v1/endpoints", {"url": receiver.url, "retry": same})).status == 201
    made = await incode.endpoint(receiver.url, timeout_s=3)
    assert made["timeout_s"] == 3
    refused(await incode.patch(f"/v1/endpoints/{made['id']}", {"success": "200"}), "success", "incode")


async def test_a_validas_tenant_key_cannot_escape_https_and_oauth2(admin: Api, receiver: Receiver) -> None:
    validas, _ = await seed_client(admin, "validas")
    for profile in ("standard", "incode", "credas"):
        reply = await validas.post("/v1/endpoints", {"url": receiver.url, "profile": profile})
        refused(reply, "url", "validas")
        reply = await validas.post("/v1/endpoints", {"url": "https://127.0.0.1:9/hook", "profile": profile})
        refused(reply, "auth", "validas")
    made = await validas.endpoint("https://127.0.0.1:9/hook", profile="standard", auth=OAUTH2)
    refused(await validas.patch(f"/v1/endpoints/{made['id']}", {"auth": {"type": "none"}}), "auth", "validas")
    refused(await validas.patch(f"/v1/endpoints/{made['id']}", {"url": receiver.url}), "url", "validas")
    reply = await validas.post("/v1/subjects", {"kind": "validation", "webhook_url": "https://127.0.0.1:9/x"})
    assert reply.status == 422 and reply.body["field"] == "webhook_url"


async def test_the_admin_key_may_set_a_validas_receiver_up_outside_the_rules(admin: Api, receiver: Receiver
                                                                               ) -> None:
    """The platform itself (the admin key) may set up a receiver of vali-Das events over plain HTTP without OAuth2
    by naming another profile (a receiver inside its own network, a migration); an endpoint of profile `validas`
    is HTTPS with OAuth2 whoever asks (the profile's own rule). The tenant's key still cannot change such an
    endpoint's URL or auth, nor make one; an endpoint taking every type gets vali-Das events only if it complies."""
    validas, tenant_id = await seed_client(admin, "validas")
    plain = await admin.endpoint(receiver.url + "/plain", tenant_id=tenant_id, profile="standard",
                                 event_types=["validation.status_changed"])
    assert (plain["url"], plain["auth"]["type"]) == (receiver.url + "/plain", "none")
    for url, field in ((receiver.url, "url"), ("https://127.0.0.1:9/hook", "auth")):
        reply = await admin.post("/v1/endpoints", {"url": url, "tenant_id": tenant_id})  # profile validas
        assert reply.status == 422 and reply.body["field"] == field and "validas" in reply.body["detail"], reply.body
    await admin.endpoint(receiver.url + "/every", tenant_id=tenant_id, profile="standard")
    event = await validas.publish("validation.status_changed", {"validation_id": "v1", "status": "on-course"})
    assert [d["endpoint_id"] for d in event["deliveries"]] == [plain["id"]]
    await receiver.wait_for(1)
    [request] = receiver.requests
    assert request.path_qs == "/plain" and request.json()["data"]["validation_id"] == "v1"
    assert "authorization" not in request.headers

    refused(await validas.patch(f"/v1/endpoints/{plain['id']}", {"url": receiver.url + "/other"}), "url", "validas")
    # a tenant key touching a rule's field must bring the whole endpoint within the rules
    refused(await validas.patch(f"/v1/endpoints/{plain['id']}", {"auth": OAUTH2}), "url", "validas")
    refused(await validas.post("/v1/endpoints", {"url": "https://127.0.0.1:9/x", "profile": "standard",
                                                 "event_types": ["validation.status_changed"]}), "auth", "validas")
    assert (await validas.patch(f"/v1/endpoints/{plain['id']}", {"description": "in-house"})).ok()["description"] \
        == "in-house"


async def test_any_receiver_of_validation_events_is_https_with_oauth2(api: Api, receiver: Receiver) -> None:
    reply = await api.post("/v1/endpoints", {"url": receiver.url, "event_types": ["validation.status_changed"]})
    refused(reply, "url", "validas")
    reply = await api.post("/v1/endpoints", {"url": "https://127.0.0.1:9/x",
                                             "event_types": ["validation.status_changed", "order.created"]})
    refused(reply, "auth", "validas")
    every_type = await api.endpoint(receiver.url)
    refused(await api.patch(f"/v1/endpoints/{every_type['id']}", {"event_types": ["validation.status_changed"]}),
            "url", "validas")
    # an endpoint that takes every type does not receive vali-Das events unless it meets the rules
    published = await api.publish("validation.status_changed", {"validation_id": "v1", "status": "on-course"})
    assert published["deliveries"] == []
    subject = (await api.post("/v1/subjects", {"kind": "validation", "webhook_url": receiver.url})).ok()
    published = await api.publish("validation.status_changed", {"validation_id": "v1", "status": "confirmed"},
                                  subject_id=subject["id"])
    assert published["deliveries"] == []  # nor a subject's own URL, which has no OAuth2
    compliant = await api.endpoint("https://127.0.0.1:9/x", auth=OAUTH2)
    published = await api.publish("validation.status_changed", {"validation_id": "v1", "status": "deleted"})
    assert [d["endpoint_id"] for d in published["deliveries"]] == [compliant["id"]]
    assert (await api.publish("order.created", {}))["deliveries"] != []


SAMPLE = "00000000-0000-4000-8000-000000000000"  # the sample process, entity and validation of a test call


@pytest.mark.parametrize(("profile", "fields", "expected"), [
    ("attestr", {}, b'{"_id":"test","event":"async.completed","test":true}'),
    ("attestr", {"event_types": ["flowx.skipped", "async.errored"]},
     b'{"_id":"test","event":"flowx.skipped","test":true}'),
    ("credas", {}, b'{"clientId":"CLIENT","processId":"SAMPLE","processActorId":0,"entityId":"SAMPLE",'
                   b'"smsStatus":2,"smsStatusDescription":"Delivered","emailStatus":2,'
                   b'"emailStatusDescription":"Delivered"}'),
    ("credas", {"event_types": ["process.completed"]},
     b'{"ProcessId":"SAMPLE","ClientId":"CLIENT","Status":2,"StatusDescription":"The process is complete"}'),
    ("incode", {}, b'{"interviewId":"test-interview","onboardingStatus":"ONBOARDING_FINISHED"}'),
    ("incode", {"event_types": ["watchlist.updated"]},
     b'{"interviewId":"test-interview","ref":"test-ref","search_id":"test-search"}'),
    ("standard", {}, None),
])
async def test_an_endpoint_test_sends_a_sample_event_of_its_profile(
    admin: Api, receiver: Receiver, profile: str, fields: dict[str, Any], expected: bytes | None
) -> None:
    """The raw body of each seed profile's test call (the first of the endpoint's types with a sample, else the
    first its profile sends); vali-Das's is in test_validas_api.py (it needs HTTPS and OAuth2)."""
    client, tenant_id = await seed_client(admin, profile)
    made = await client.endpoint(receiver.url, **fields)
    tested = (await client.post(f"/v1/endpoints/{made['id']}/test")).ok()
    assert tested["ok"] is True
    [request] = receiver.requests
    if expected is None:  # standard: the Standard Webhooks envelope of a verihook.test event
        body = request.json()
        assert set(body) == {"type", "timestamp", "data"} and body["type"] == "verihook.test"
        return
    assert request.body == expected.replace(b"CLIENT", tenant_id.encode()).replace(b"SAMPLE", SAMPLE.encode())
    if profile == "attestr":
        assert request.headers["authorization"] == f"Basic {made['auth']['token']}"
