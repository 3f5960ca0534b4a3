"""vali-Das webhooks (seed 003): settings API, test call, HTTPS and OAuth2 receivers, nine statuses, event queries."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.api import Api
from tests.support.receivers import Answer, Received
from tests.support.seed_servers import TlsReceiver, TokenServer
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests
from tests.tlsutil import TlsFiles, make_tls

STATUSES = ["on-course", "document-uploaded", "document2-uploaded", "document3-uploaded", "selfie-uploaded",
            "video-uploaded", "cancelled", "confirmed", "deleted"]


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls(tmp_path)


@pytest.fixture
async def validas(database_url: str, tls: TlsFiles, http: aiohttp.ClientSession) -> AsyncIterator[Api]:
    async with running_verihook(settings_for_tests(database_url, ca_file=str(tls.ca_file))) as running:
        admin = Api(running.base_url, ADMIN_KEY, http)
        tenant = await admin.tenant("vali-Das client", profile="validas")
        yield admin.as_key(tenant["api_key"])


@pytest.fixture
async def tokens(tls: TlsFiles) -> AsyncIterator[TokenServer]:
    server = await TokenServer(context=tls.server_context()).start()
    yield server
    await server.stop()


@pytest.fixture
async def receiver(tls: TlsFiles, tokens: TokenServer) -> AsyncIterator[TlsReceiver]:
    receiver = await TlsReceiver(tls.server_context()).start()
    receiver.handler = tokens.guard()
    yield receiver
    await receiver.stop()


def oauth2(tokens: TokenServer) -> dict[str, str]:
    return {"type": "oauth2", "token_url": tokens.url, "client_id": "validas", "client_secret": "s3cret"}


async def test_create_read_and_test_the_webhook_settings(
    validas: Api, receiver: TlsReceiver, tokens: TokenServer
) -> None:
    # 1. POST .../webhook/settings
    created = await validas.endpoint(receiver.url + "/webhook", auth=oauth2(tokens))
    # 2. GET .../webhook/settings
    read = (await validas.get(f"/v1/endpoints/{created['id']}")).ok()
    assert read["url"] == receiver.url + "/webhook" and read["profile"] == "validas"
    assert read["auth"] == {**oauth2(tokens), "client_secret": "***"}
    # 3. POST .../webhook/test
    tested = (await validas.post(f"/v1/endpoints/{created['id']}/test")).ok()
    assert tested["ok"] is True and tested["status_code"] == 200
    [request] = receiver.requests
    assert request.headers["authorization"] == "Bearer token-1"
    sample = request.json()  # exactly the shape of a validation status change
    assert list(sample) == ["validation_id", "status", "time"] and sample["status"] == "on-course"
    datetime.fromisoformat(sample["time"].replace("Z", "+00:00"))
    [token_request] = tokens.requests
    assert token_request.method == "POST" and token_request.body == b"grant_type=client_credentials"
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(b"validas:s3cret").decode()

    receiver.handler = lambda _: Answer(503, b"down for maintenance", "text/plain")
    tested = (await validas.post(f"/v1/endpoints/{created['id']}/test")).ok()
    assert tested["ok"] is False and tested["status_code"] == 503
    assert tested["response_body"] == "down for maintenance"
    assert (await validas.get("/v1/events")).ok()["data"] == []  # a test call stores nothing


async def test_plain_http_and_unprotected_receivers_are_refused(
    validas: Api, receiver: TlsReceiver, tokens: TokenServer
) -> None:
    http_url = receiver.url.replace("https://", "http://")
    reply = await validas.post("/v1/endpoints", {"url": http_url, "auth": oauth2(tokens)})
    assert reply.status == 422 and reply.content_type.startswith("application/problem+json")
    assert reply.body["field"] == "url" and "https" in reply.body["detail"].lower()
    reply = await validas.post("/v1/endpoints", {"url": receiver.url})
    assert reply.status == 422 and reply.body["field"] == "auth" and "oauth2" in reply.body["detail"]
    assert (await validas.get("/v1/endpoints")).ok()["data"] == []

    created = await validas.endpoint(receiver.url, auth=oauth2(tokens))
    reply = await validas.patch(f"/v1/endpoints/{created['id']}", {"url": http_url})
    assert reply.status == 422 and reply.body["field"] == "url"
    reply = await validas.patch(f"/v1/endpoints/{created['id']}", {"auth": {"type": "none"}})
    assert reply.status == 422 and reply.body["field"] == "auth"
    assert (await validas.get(f"/v1/endpoints/{created['id']}")).ok()["url"] == receiver.url

    reply = await validas.post("/v1/subjects", {"kind": "validation", "webhook_url": http_url})
    assert reply.status == 422 and reply.body["field"] == "webhook_url"


async def test_every_status_change_is_notified(validas: Api, receiver: TlsReceiver, tokens: TokenServer) -> None:
    await validas.endpoint(receiver.url + "/webhook", auth=oauth2(tokens))
    (await validas.post("/v1/subjects", {"kind": "validation", "id": "val-1"})).ok()
    started = time.time()
    events = []
    for status in STATUSES:
        changed = (await validas.patch("/v1/subjects/val-1", {"status": status})).ok()
        events.append(changed["event"])
    for event in events:
        await validas.wait_event(event["id"])

    received = sorted(receiver.requests, key=lambda r: int(r.headers["verihook-sequence"]))
    assert [r.json()["status"] for r in received] == STATUSES
    for request, event in zip(received, events, strict=True):
        body = request.json()
        assert list(body) == ["validation_id", "status", "time"] and body["validation_id"] == "val-1"
        assert request.body == orjson.dumps(event["data"])
        at = datetime.fromisoformat(body["time"].replace("Z", "+00:00")).timestamp()
        assert started - 1 <= at <= time.time() + 1
        assert request.headers["authorization"] == "Bearer token-1"
    assert len(tokens.requests) == 1

    unchanged = (await validas.patch("/v1/subjects/val-1", {"status": "deleted"})).ok()
    assert unchanged["event"] is None
    reply = await validas.patch("/v1/subjects/val-1", {"status": "documen2-uploaded"})
    assert reply.status == 422 and "document2-uploaded" in reply.body["detail"]
    reply = await validas.patch("/v1/subjects/val-1", {"status": "expired"})
    assert reply.status == 422 and reply.body["field"] == "status"


async def test_the_event_queries_of_the_seed(validas: Api, receiver: TlsReceiver, tokens: TokenServer) -> None:
    guard = tokens.guard()

    def fail_for_val_bad(request: Received) -> Answer:
        return Answer(500) if request.json()["validation_id"] == "val-bad" else guard(request)

    receiver.handler = fail_for_val_bad
    await validas.endpoint(receiver.url, auth=oauth2(tokens), retry={"strategy": "none"})
    for validation in ("val-good", "val-bad"):
        (await validas.post("/v1/subjects", {"kind": "validation", "id": validation})).ok()
    good = [(await validas.patch("/v1/subjects/val-good", {"status": s})).ok()["event"] for s in STATUSES[:2]]
    bad = (await validas.patch("/v1/subjects/val-bad", {"status": "cancelled"})).ok()["event"]
    for event in good:
        await validas.wait_event(event["id"])
    await validas.wait_event(bad["id"], "failed")

    def ids(reply: Any) -> list[str]:
        return [item["id"] for item in reply.ok()["data"]]

    everything = {"type": "validation.status_changed"}
    # all status change events, newest first
    assert ids(await validas.get("/v1/events", params=everything)) == [bad["id"], good[1]["id"], good[0]["id"]]
    # those whose notification was sent, and those whose was not
    sent = await validas.get("/v1/events", params={**everything, "delivery_status": "succeeded"})
    assert ids(sent) == [good[1]["id"], good[0]["id"]]
    assert ids(await validas.get("/v1/events", params={**everything, "delivery_status": "failed"})) == [bad["id"]]
    # one event, with its delivery attempts
    one = (await validas.get(f"/v1/events/{bad['id']}")).ok()
    assert one["data"]["status"] == "cancelled"
    assert [a["status_code"] for a in one["deliveries"][0]["attempts"]] == [500]
    # validations whose notification failed, and those whose notification succeeded
    subjects = {"kind": "validation"}
    assert ids(await validas.get("/v1/subjects", params={**subjects, "delivery_status": "failed"})) == ["val-bad"]
    succeeded = await validas.get("/v1/subjects", params={**subjects, "delivery_status": "succeeded"})
    assert ids(succeeded) == ["val-good"]
    # all events of one validation
    of_good = (await validas.get("/v1/subjects/val-good/events")).ok()["data"]
    assert [e["data"]["status"] for e in of_good] == ["document-uploaded", "on-course"]
