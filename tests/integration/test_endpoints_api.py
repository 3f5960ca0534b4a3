"""Endpoints: CRUD, filters, the enabled flag, delivery rules, custom headers, auth, signing and its rotation."""

from __future__ import annotations

import asyncio
import base64
import itertools

import pytest
from standardwebhooks import Webhook

from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from verihook.receiver import InvalidSignature, verify

FAST = {"strategy": "schedule", "delays_s": [0.2, 0.2]}
REDACTED = "***"


def _paths(requests: list[Received]) -> list[str]:
    return sorted(r.path_qs for r in requests)


async def test_create_read_update_delete(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url + "/a", description="first", event_types=["order.created"],
                              timeout_s=5, retry=FAST, success="200", headers={"X-Portal": "p1"})
    assert made["id"].startswith("ep_")
    assert made["url"] == receiver.url + "/a" and made["description"] == "first"
    assert made["enabled"] is True and made["event_types"] == ["order.created"]
    assert made["profile"] == "standard" and made["timeout_s"] == 5 and made["success"] == "200"
    assert made["retry"] == {"strategy": "schedule", "delays_s": [0.2, 0.2], "jitter": 0}
    assert made["headers"] == {"X-Portal": "p1"} and made["auth"] == {"type": "none"}
    assert made["signing_secret"].startswith("whsec_")

    read = (await api.get(f"/v1/endpoints/{made['id']}")).ok()
    assert read == {**made, "signing_secret": REDACTED}

    changed = (await api.patch(f"/v1/endpoints/{made['id']}", {
        "url": receiver.url + "/b", "description": "second", "event_types": None, "timeout_s": 2.5,
        "success": "2xx"})).ok()
    assert changed["url"] == receiver.url + "/b" and changed["description"] == "second"
    assert changed["event_types"] is None and changed["timeout_s"] == 2.5 and changed["success"] == "2xx"
    assert changed["headers"] == {"X-Portal": "p1"} and changed["retry"] == made["retry"]  # untouched fields stay
    assert (await api.get(f"/v1/endpoints/{made['id']}")).ok() == changed

    other = await api.endpoint(receiver.url + "/c")
    listed = (await api.get("/v1/endpoints")).ok()
    assert [e["id"] for e in listed["data"]] == [other["id"], made["id"]]  # newest first
    assert listed["next_cursor"] is None

    deleted = await api.delete(f"/v1/endpoints/{made['id']}")
    assert deleted.status == 204
    assert (await api.get(f"/v1/endpoints/{made['id']}")).status == 404
    assert (await api.patch(f"/v1/endpoints/{made['id']}", {"description": "x"})).status == 404
    assert (await api.delete(f"/v1/endpoints/{made['id']}")).status == 404
    assert [e["id"] for e in (await api.get("/v1/endpoints")).ok()["data"]] == [other["id"]]
    event = await api.publish("order.created", {})
    assert [d["endpoint_id"] for d in event["deliveries"]] == [other["id"]]


async def test_event_type_filter(api: Api, receiver: Receiver) -> None:
    orders = await api.endpoint(receiver.url + "/orders", event_types=["order.created", "order.shipped"])
    everything = await api.endpoint(receiver.url + "/all")
    refunds = await api.endpoint(receiver.url + "/refunds", event_types=["refund.issued"])
    expected = {"order.created": {orders["id"], everything["id"]}, "order.shipped": {orders["id"], everything["id"]},
                "invoice.paid": {everything["id"]}, "refund.issued": {refunds["id"], everything["id"]}}
    for event_type, endpoint_ids in expected.items():
        event = await api.publish(event_type, {})
        assert {d["endpoint_id"] for d in event["deliveries"]} == endpoint_ids
    requests = await receiver.wait_for(7)
    await asyncio.sleep(0.3)  # a stray delivery would arrive by now
    assert len(receiver.requests) == 7
    by_path: dict[str, set[str]] = {}
    for request in requests:
        by_path.setdefault(request.path_qs, set()).add(request.json()["type"])
    assert by_path == {"/orders": {"order.created", "order.shipped"}, "/refunds": {"refund.issued"},
                       "/all": set(expected)}


async def test_a_disabled_endpoint_gets_nothing(api: Api, receiver: Receiver) -> None:
    """Nothing is sent to it; what it would have got is recorded as skipped (docs/API.md, "Skipped deliveries")."""
    off = await api.endpoint(receiver.url + "/off", enabled=False)
    on = await api.endpoint(receiver.url + "/on")
    assert off["enabled"] is False
    first = await api.publish("order.created", {"n": 1})
    assert [(d["endpoint_id"], d["status"]) for d in first["deliveries"]] == [
        (off["id"], "skipped"), (on["id"], "pending")]
    await api.wait_event(first["id"])

    (await api.patch(f"/v1/endpoints/{off['id']}", {"enabled": True})).ok()
    (await api.patch(f"/v1/endpoints/{on['id']}", {"enabled": False})).ok()
    second = await api.publish("order.created", {"n": 2})
    assert [(d["endpoint_id"], d["status"]) for d in second["deliveries"]] == [
        (off["id"], "pending"), (on["id"], "skipped")]
    await api.wait_event(second["id"])
    assert [(r.path_qs, r.json()["data"]["n"]) for r in receiver.requests] == [("/on", 1), ("/off", 2)]


async def test_per_endpoint_timeout(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(delay_s=2.0))
    endpoint = await api.endpoint(receiver.url, timeout_s=0.3, retry={"strategy": "none"})
    assert endpoint["timeout_s"] == 0.3
    event = await api.publish("order.created", {})
    done = await api.wait_event(event["id"], "failed")
    [attempt] = done["deliveries"][0]["attempts"]
    assert attempt["error"] == "timeout" and attempt["status_code"] is None
    assert 250 <= attempt["latency_ms"] < 1500  # gave up after the endpoint's 0.3 s, not the answer's 2 s


RETRY_SHAPES = [
    {"strategy": "none"},
    {"strategy": "schedule", "delays_s": [5, 300, 1800], "jitter": 0.2},
    {"strategy": "exponential", "initial_s": 30, "factor": 2.5, "max_attempts": 5, "max_delay_s": 36000,
     "jitter": 0},
]


async def test_retry_policy_shapes_are_kept(api: Api, receiver: Receiver) -> None:
    for retry in RETRY_SHAPES:
        made = await api.endpoint(receiver.url, retry=retry)
        assert made["retry"] == retry
        assert (await api.get(f"/v1/endpoints/{made['id']}")).ok()["retry"] == retry
    last = (await api.patch(f"/v1/endpoints/{made['id']}", {"retry": RETRY_SHAPES[1]})).ok()
    assert last["retry"] == RETRY_SHAPES[1]


async def test_the_standard_default_retry_policy_is_shown(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url)
    assert made["retry"] == {"strategy": "schedule", "delays_s": [5, 300, 1800, 7200, 18000, 36000, 36000],
                             "jitter": 0.2}
    assert made["timeout_s"] == 15 and made["success"] == "2xx"


async def test_retries_follow_the_schedule_then_succeed(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500), Answer(503), Answer(200))
    await api.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [0.3, 0.3]})
    event = await api.publish("order.created", {})
    done = await api.wait_event(event["id"])
    [delivery] = done["deliveries"]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["attempt_count"] == 3
    times = [r.at for r in receiver.requests]
    assert all(later - earlier >= 0.25 for earlier, later in itertools.pairwise(times))
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


async def test_retries_stop_when_the_policy_is_exhausted(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500))
    await api.endpoint(receiver.url + "/none", retry={"strategy": "none"}, event_types=["a.none"])
    await api.endpoint(receiver.url + "/exp", event_types=["a.exp"],
                       retry={"strategy": "exponential", "initial_s": 0.1, "factor": 2, "max_attempts": 3})
    none = await api.publish("a.none", {})
    exp = await api.publish("a.exp", {})
    assert len((await api.wait_event(none["id"], "failed"))["deliveries"][0]["attempts"]) == 1
    assert len((await api.wait_event(exp["id"], "failed"))["deliveries"][0]["attempts"]) == 3


SUCCESS_CASES = [  # (success rule, the receiver's answer, counts as delivered)
    ("2xx", Answer(202), True),
    ("2xx", Answer(204, content_type=None), True),
    ("2xx", Answer(302, headers={"Location": "/elsewhere"}), False),
    ("2xx", Answer(500), False),
    ("200", Answer(200), True),
    ("200", Answer(202), False),
    ("200-json-or-204", Answer(200, content_type="application/json"), True),
    ("200-json-or-204", Answer(200, content_type="application/problem+json"), True),
    ("200-json-or-204", Answer(200, b"ok", content_type="text/plain"), False),
    ("200-json-or-204", Answer(204, content_type=None), True),
    ("200-json-or-204", Answer(202), False),
]


async def test_success_rule(api: Api, receiver: Receiver) -> None:
    receiver.handler = lambda received: SUCCESS_CASES[int(received.path_qs.strip("/"))][1]
    events = []
    for index, (rule, _, _) in enumerate(SUCCESS_CASES):
        await api.endpoint(f"{receiver.url}/{index}", success=rule, retry={"strategy": "none"},
                           event_types=[f"case.n{index}"])
        events.append(await api.publish(f"case.n{index}", {}))
    for event, (rule, answer, succeeds) in zip(events, SUCCESS_CASES, strict=True):
        expected = "succeeded" if succeeds else "failed"
        done = await api.wait_event(event["id"], expected)
        assert done["deliveries"][0]["attempts"][0]["status_code"] == answer.status, (rule, answer)


async def test_custom_headers_arrive_and_reserved_ones_are_refused(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url, headers={"X-Portal": "north", "X-Trace-Id": "abc 123"})
    await api.publish("order.created", {})
    [request] = await receiver.wait_for(1)
    assert request.headers["x-portal"] == "north" and request.headers["x-trace-id"] == "abc 123"
    assert request.headers["content-type"] == "application/json"

    for name in ("Authorization", "webhook-signature", "Content-Type", "Host", "Content-Length"):
        reply = await api.post("/v1/endpoints", {"url": receiver.url, "headers": {name: "x"}})
        assert reply.status == 422, name
        assert reply.body["field"] == f"headers.{name}"
    assert len((await api.get("/v1/endpoints")).ok()["data"]) == 1


async def test_no_auth_sends_no_authorization(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url, auth={"type": "none"})
    await api.publish("order.created", {})
    [request] = await receiver.wait_for(1)
    assert "authorization" not in request.headers


async def test_basic_auth_with_a_generated_token(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url, auth={"type": "basic"})
    token = made["auth"]["token"]
    assert made["auth"]["type"] == "basic" and len(token) >= 16 and token != REDACTED
    assert (await api.get(f"/v1/endpoints/{made['id']}")).ok()["auth"] == {"type": "basic", "token": REDACTED}
    [listed] = (await api.get("/v1/endpoints")).ok()["data"]
    assert listed["auth"]["token"] == REDACTED
    patched = (await api.patch(f"/v1/endpoints/{made['id']}", {"description": "d"})).ok()
    assert patched["auth"] == {"type": "basic", "token": REDACTED}
    secrets = (await api.get(f"/v1/endpoints/{made['id']}/secrets")).ok()
    assert secrets["auth"] == {"type": "basic", "token": token}

    await api.publish("order.created", {})
    [request] = await receiver.wait_for(1)
    assert request.headers["authorization"] == f"Basic {token}"


async def test_basic_auth_with_a_given_token_and_with_user_and_password(api: Api, receiver: Receiver) -> None:
    given = await api.endpoint(receiver.url + "/token", auth={"type": "basic", "token": "dG9rZW4="})
    assert given["auth"]["token"] == "dG9rZW4="
    pair = await api.endpoint(receiver.url + "/pair", auth={"type": "basic", "username": "portal",
                                                             "password": "s3cret:pw"})
    assert (await api.get(f"/v1/endpoints/{pair['id']}")).ok()["auth"] == {
        "type": "basic", "username": "portal", "password": REDACTED}
    assert (await api.get(f"/v1/endpoints/{pair['id']}/secrets")).ok()["auth"]["password"] == "s3cret:pw"
    await api.publish("order.created", {})
    requests = {r.path_qs: r for r in await receiver.wait_for(2)}
    assert requests["/token"].headers["authorization"] == "Basic dG9rZW4="
    expected = "Basic " + base64.b64encode(b"portal:s3cret:pw").decode()
    assert requests["/pair"].headers["authorization"] == expected


async def test_bearer_auth(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url, auth={"type": "bearer", "token": "tok-123"})
    assert (await api.get(f"/v1/endpoints/{made['id']}")).ok()["auth"] == {"type": "bearer", "token": REDACTED}
    event = await api.publish("order.created", {})
    [request] = await receiver.wait_for(1)
    assert request.headers["authorization"] == "Bearer tok-123"
    done = await api.wait_event(event["id"])
    recorded = done["deliveries"][0]["attempts"][0]["request_headers"]
    assert "tok-123" not in str(recorded)


async def test_switching_auth_off(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url, auth={"type": "bearer", "token": "tok-123"})
    (await api.patch(f"/v1/endpoints/{made['id']}", {"auth": {"type": "none"}})).ok()
    await api.publish("order.created", {})
    [request] = await receiver.wait_for(1)
    assert "authorization" not in request.headers


async def test_signing_secret_shown_on_create_and_secrets_only(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url)
    secret = made["signing_secret"]
    assert secret.startswith("whsec_")
    assert (await api.get(f"/v1/endpoints/{made['id']}")).ok()["signing_secret"] == REDACTED
    assert (await api.patch(f"/v1/endpoints/{made['id']}", {"description": "x"})).ok()["signing_secret"] == REDACTED
    assert (await api.get("/v1/endpoints")).ok()["data"][0]["signing_secret"] == REDACTED
    secrets = (await api.get(f"/v1/endpoints/{made['id']}/secrets")).ok()
    assert secrets["signing_secret"] == secret
    assert secrets["signing_secrets"] == [{"secret": secret, "expires_at": None}]

    await api.publish("order.created", {"n": 1})
    [request] = await receiver.wait_for(1)
    verify(secret, request.headers, request.body)
    assert Webhook(secret).verify(request.body, request.headers) == {
        "type": "order.created", "timestamp": request.json()["timestamp"], "data": {"n": 1}}
    with pytest.raises(InvalidSignature):
        verify(secret, request.headers, request.body + b" ")


async def test_signing_disabled_sends_no_signature_headers(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url, signing={"enabled": False})
    assert made["signing"] == {"enabled": False}
    await api.publish("order.created", {})
    [request] = await receiver.wait_for(1)
    assert not [name for name in request.headers if name.startswith("webhook-")]

    (await api.patch(f"/v1/endpoints/{made['id']}", {"signing": {"enabled": True}})).ok()
    await api.publish("order.created", {})
    _, signed = await receiver.wait_for(2)
    verify(made["signing_secret"], signed.headers, signed.body)


async def test_secret_rotation_sends_both_signatures_during_the_grace_period(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url)
    old = made["signing_secret"]
    rotated = (await api.post(f"/v1/endpoints/{made['id']}/secret/rotate", {"grace_s": 3600})).ok()
    new = rotated["signing_secret"]
    assert new.startswith("whsec_") and new != old
    by_secret = {s["secret"]: s["expires_at"] for s in rotated["signing_secrets"]}
    assert set(by_secret) == {old, new} and by_secret[new] is None and by_secret[old] is not None
    assert (await api.get(f"/v1/endpoints/{made['id']}")).ok()["signing_secret"] == REDACTED

    await api.publish("order.created", {})
    [request] = await receiver.wait_for(1)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    for secret in (old, new):
        verify(secret, request.headers, request.body)
        Webhook(secret).verify(request.body, request.headers)
    for signature in signatures:  # each one verifies on its own, with exactly one of the two secrets
        alone = {**request.headers, "webhook-signature": signature}
        valid = []
        for secret in (old, new):
            try:
                verify(secret, alone, request.body)
                valid.append(secret)
            except InvalidSignature:
                pass
        assert len(valid) == 1


async def test_after_the_grace_period_only_the_new_secret_signs(api: Api, receiver: Receiver) -> None:
    made = await api.endpoint(receiver.url)
    old = made["signing_secret"]
    new = (await api.post(f"/v1/endpoints/{made['id']}/secret/rotate", {"grace_s": 0})).ok()["signing_secret"]
    await api.publish("order.created", {})
    [request] = await receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    verify(new, request.headers, request.body)
    with pytest.raises(InvalidSignature):
        verify(old, request.headers, request.body)
