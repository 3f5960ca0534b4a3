"""vali-Das's own webhook API (seed 003) served by Verihook under the seed's paths, as a vali-Das client calls it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
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

BASE = "/validas/v1/webhook"


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls(tmp_path)


@pytest.fixture
async def running(database_url: str, tls: TlsFiles, http: aiohttp.ClientSession) -> AsyncIterator[Api]:
    async with running_verihook(settings_for_tests(database_url, ca_file=str(tls.ca_file))) as verihook:
        yield Api(verihook.base_url, ADMIN_KEY, http)


@pytest.fixture
async def validas(running: Api) -> Api:
    return running.as_key((await running.tenant("vali-Das client", profile="validas"))["api_key"])


@pytest.fixture
async def tokens(tls: TlsFiles) -> AsyncIterator[TokenServer]:
    server = await TokenServer(context=tls.server_context()).start()
    yield server
    await server.stop()


@pytest.fixture
async def receiver(tls: TlsFiles, tokens: TokenServer) -> AsyncIterator[TlsReceiver]:
    receiver = await TlsReceiver(tls.server_context()).start()
    guard = tokens.guard()

    def handle(request: Received) -> Answer:  # a receiver that refuses validation "v-bad", and "v-gone" with 410
        answer = guard(request)
        if answer.status == 200 and request.json().get("validation_id") == "v-bad":
            return Answer(500, b'{"error":"busy"}')
        if answer.status == 200 and request.json().get("validation_id") == "v-gone":
            return Answer(410, b"", None)
        return answer

    receiver.handler = handle
    yield receiver
    await receiver.stop()


def oauth2(tokens: TokenServer) -> dict[str, str]:
    return {"type": "oauth2", "token_url": tokens.url, "client_id": "validas", "client_secret": "s3cret"}


async def test_the_three_steps_of_the_seed(validas: Api, receiver: TlsReceiver, tokens: TokenServer) -> None:
    missing = await validas.get(f"{BASE}/settings")
    assert missing.status == 404 and missing.content_type.startswith("application/problem+json")
    assert (await validas.post(f"{BASE}/test")).status == 404
    # 1. create the settings
    created = await validas.post(f"{BASE}/settings", {"url": receiver.url + "/hook", "auth": oauth2(tokens)})
    assert created.status == 201, created.body
    assert created.body["auth"] == {**oauth2(tokens), "client_secret": "***"}
    assert created.body["url"] == receiver.url + "/hook" and created.body["enabled"] is True
    # 2. read them back
    read = (await validas.get(f"{BASE}/settings")).ok()
    assert read == created.body
    # 3. test them: the exact body of a validation status change, with the setting's OAuth2 token
    tested = (await validas.post(f"{BASE}/test")).ok()
    assert set(tested) >= {"ok", "status_code", "latency_ms", "error", "response_body"}
    assert (tested["ok"], tested["status_code"]) == (True, 200)
    [request] = receiver.requests
    assert request.path_qs == "/hook" and request.headers["authorization"] == "Bearer token-1"
    body = request.json()
    assert list(body) == ["validation_id", "status", "time"] and body["status"] == "on-course"
    assert request.body == orjson.dumps({"validation_id": "00000000-0000-4000-8000-000000000000",
                                         "status": "on-course", "time": body["time"]})

    # a second POST replaces the one setting
    replaced = await validas.post(f"{BASE}/settings", {"url": receiver.url + "/v2", "auth": oauth2(tokens),
                                                       "enabled": False})
    assert replaced.status == 200 and replaced.body["id"] == created.body["id"]
    assert (await validas.get(f"{BASE}/settings")).ok()["url"] == receiver.url + "/v2"
    assert [e["id"] for e in (await validas.get("/v1/endpoints")).ok()["data"]] == [created.body["id"]]
    # replaced whole: what a POST leaves out takes its default again
    again = await validas.post(f"{BASE}/settings", {"url": receiver.url + "/v3", "auth": oauth2(tokens)})
    assert (again.status, again.body["enabled"], again.body["id"]) == (200, True, created.body["id"])


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "http://127.0.0.1:9/hook", "auth": {"type": "oauth2", "token_url": "https://127.0.0.1:9/t",
                                                  "client_id": "c", "client_secret": "s"}}, "url"),
    ({"url": "https://127.0.0.1:9/hook", "auth": {"type": "none"}}, "auth"),
    ({"url": "https://127.0.0.1:9/hook"}, "auth"),
    ({"url": "https://127.0.0.1:9/hook", "auth": {"type": "oauth2", "token_url": "https://127.0.0.1:9/t",
                                                   "client_id": "c", "client_secret": "s"}, "profile": "standard"},
     "profile"),
])
async def test_settings_require_https_and_oauth2(validas: Api, body: dict[str, Any], field: str) -> None:
    reply = await validas.post(f"{BASE}/settings", body)
    assert reply.status == 422 and reply.body["field"].startswith(field), reply.body


async def test_the_event_queries(validas: Api, running: Api, receiver: TlsReceiver, tokens: TokenServer) -> None:
    (await validas.post(f"{BASE}/settings", {"url": receiver.url + "/hook", "auth": oauth2(tokens)})).ok()
    changes = {}
    for validation in ("v-ok", "v-bad"):
        (await validas.post("/v1/subjects", {"kind": "validation", "id": validation})).ok()
        for status in ("on-course", "document-uploaded"):
            event = (await validas.patch(f"/v1/subjects/{validation}", {"status": status})).ok()["event"]
            changes.setdefault(validation, []).append(event["id"])
    for event_id in changes["v-ok"]:
        await validas.wait_event(event_id)
    await receiver.wait_for(4)
    await asyncio.sleep(0.3)  # v-bad's outcomes are written; their retries wait (5 s)

    async def ids(path: str, **params: Any) -> list[str]:
        reply = (await validas.get(f"{BASE}{path}", params=params)).ok()
        return [item.get("event_id") or item["validation_id"] for item in reply["data"]]

    assert await ids("/events", sent="true") == changes["v-ok"][::-1]  # newest first
    assert await ids("/events", sent="false") == changes["v-bad"][::-1]  # retries waiting count as not sent
    assert sorted(await ids("/events")) == sorted(changes["v-ok"] + changes["v-bad"])
    assert await ids("/events", sent="false", validation_id="v-ok") == []
    assert await ids("/events", validation_id="v-bad") == changes["v-bad"][::-1]
    assert await ids("/validations", sent="true") == ["v-ok"]
    assert await ids("/validations", sent="false") == ["v-bad"]
    assert await ids("/validations/v-bad/events") == changes["v-bad"][::-1]
    one = (await validas.get(f"{BASE}/events/{changes['v-bad'][0]}")).ok()
    assert (one["validation_id"], one["status"], one["sent"], one["delivery_status"]) == (
        "v-bad", "on-course", False, "pending")
    assert [a["status_code"] for a in one["attempts"]] == [500]
    listed = (await validas.get(f"{BASE}/events", params={"validation_id": "v-ok"})).ok()["data"][0]
    assert listed["sent"] is True and listed["status"] == "document-uploaded" and listed["time"]

    assert (await validas.get(f"{BASE}/events", params={"sent": "maybe"})).status == 422
    assert (await validas.get(f"{BASE}/events", params={"delivered": "true"})).status == 422
    assert (await validas.get(f"{BASE}/validations/v-missing/events")).status == 404
    other = await running.as_new_tenant("other client")
    assert (await other.get(f"{BASE}/events/{changes['v-ok'][0]}")).status == 404
    assert (await other.get(f"{BASE}/events")).ok()["data"] == []
    assert (await other.get(f"{BASE}/validations/v-ok/events")).status == 404
    assert (await validas.get(f"{BASE}/settings", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await running.get(f"{BASE}/settings")).status == 403  # the admin key is no vali-Das client


async def test_an_event_with_no_delivery_is_not_sent_in_the_listing_and_the_filter(
        validas: Api, receiver: TlsReceiver, tokens: TokenServer) -> None:
    """Published before the setting existed, or while it was disabled: nothing was sent, so `sent=false` returns
    it, as the listing shows it (`"sent": false`); a validation with no notification at all is not sent either."""
    async def change(validation: str, status: str) -> str:
        return (await validas.patch(f"/v1/subjects/{validation}", {"status": status})).ok()["event"]["id"]

    for validation in ("v-early", "v-paused", "v-live", "v-quiet"):
        (await validas.post("/v1/subjects", {"kind": "validation", "id": validation})).ok()
    early = await change("v-early", "on-course")  # no setting yet
    setting = {"url": receiver.url + "/hook", "auth": oauth2(tokens)}
    (await validas.post(f"{BASE}/settings", {**setting, "enabled": False})).ok()
    paused = await change("v-paused", "on-course")  # the setting is disabled
    (await validas.post(f"{BASE}/settings", setting)).ok()
    live = await change("v-live", "on-course")
    await validas.wait_event(live)

    async def listed(path: str, **params: Any) -> dict[str, bool]:
        reply = (await validas.get(f"{BASE}{path}", params=params)).ok()
        return {item.get("event_id") or item["validation_id"]: item["sent"] for item in reply["data"]}

    assert await listed("/events") == {live: True, paused: False, early: False}
    assert await listed("/events", sent="false") == {paused: False, early: False}
    assert await listed("/events", sent="true") == {live: True}
    for event_id in (early, paused):
        one = (await validas.get(f"{BASE}/events/{event_id}")).ok()
        assert (one["sent"], one["delivery_status"], one["attempts"]) == (False, None, [])
    validations = await listed("/validations")
    assert validations == {"v-early": False, "v-paused": False, "v-live": True, "v-quiet": False}
    assert await listed("/validations", sent="false") == {"v-early": False, "v-paused": False, "v-quiet": False}
    assert await listed("/validations", sent="true") == {"v-live": True}
    assert [r.json()["validation_id"] for r in receiver.requests] == ["v-live"]


async def test_a_410_leaves_the_setting_enabled(validas: Api, receiver: TlsReceiver, tokens: TokenServer) -> None:
    """No seed documents 410 Gone: vali-Das's setting stays enabled, the answer is an ordinary failed attempt
    (retried on the profile's schedule), and later notifications are sent (a `standard` endpoint is disabled)."""
    (await validas.post(f"{BASE}/settings", {"url": receiver.url + "/hook", "auth": oauth2(tokens)})).ok()
    for validation in ("v-gone", "v-ok"):
        (await validas.post("/v1/subjects", {"kind": "validation", "id": validation})).ok()
    gone = (await validas.patch("/v1/subjects/v-gone", {"status": "on-course"})).ok()["event"]["id"]
    answered = (await validas.wait_event(gone, "pending"))
    for _ in range(100):
        [delivery] = answered["deliveries"]
        if delivery["attempt_count"]:
            break
        await asyncio.sleep(0.05)
        answered = (await validas.get(f"/v1/events/{gone}")).ok()
    assert (delivery["attempt_count"], delivery["last_status_code"], delivery["status"]) == (1, 410, "pending")
    setting = (await validas.get(f"{BASE}/settings")).ok()
    assert (setting["enabled"], setting["disabled_reason"]) == (True, None)
    later = (await validas.patch("/v1/subjects/v-ok", {"status": "on-course"})).ok()["event"]["id"]
    await validas.wait_event(later)
    assert [r.json()["validation_id"] for r in receiver.requests] == ["v-gone", "v-ok"]


async def test_the_queries_page_with_limit_and_cursor(validas: Api, receiver: TlsReceiver, tokens: TokenServer
                                                       ) -> None:
    """Paged through `limit` and `cursor`, every query returns each item once, none skipped, in its order; with
    `sent=` too (items published in one burst share their creation times closely)."""
    before = [f"v-early-{n}" for n in range(3)]  # changed before the setting existed: nothing sent
    sent = [f"v-{n}" for n in range(4)]
    for validation in (*before, *sent, "v-bad"):
        (await validas.post("/v1/subjects", {"kind": "validation", "id": validation})).ok()
    events: dict[str, list[str]] = {}

    async def change(validation: str, *statuses: str) -> None:
        for status in statuses:
            event = (await validas.patch(f"/v1/subjects/{validation}", {"status": status})).ok()["event"]
            events.setdefault(validation, []).append(event["id"])

    for validation in before:
        await change(validation, "on-course", "document-uploaded")
    (await validas.post(f"{BASE}/settings", {"url": receiver.url + "/hook", "auth": oauth2(tokens)})).ok()
    for validation in sent:
        await change(validation, "on-course", "document-uploaded", "selfie-uploaded")
    await change("v-bad", "on-course", "confirmed")
    for validation in sent:
        for event_id in events[validation]:
            await validas.wait_event(event_id)
    await receiver.wait_for(len(sent) * 3 + 2)
    await asyncio.sleep(0.3)  # v-bad's outcomes are written

    async def every_page(path: str, limit: int, **params: Any) -> list[str]:
        found: list[str] = []
        cursor = None
        while True:
            reply = (await validas.get(f"{BASE}{path}", params={**params, "limit": limit, "cursor": cursor})).ok()
            assert len(reply["data"]) <= limit
            found += [item.get("event_id") or item["validation_id"] for item in reply["data"]]
            cursor = reply["next_cursor"]
            if cursor is None:
                return found

    async def at_once(path: str, **params: Any) -> list[str]:
        reply = (await validas.get(f"{BASE}{path}", params={**params, "limit": 500})).ok()
        assert reply["next_cursor"] is None
        return [item.get("event_id") or item["validation_id"] for item in reply["data"]]

    every_event = [e for ids in events.values() for e in ids]
    not_sent = [e for v in (*before, "v-bad") for e in events[v]]
    for path, params, expected in (
        ("/events", {}, every_event),
        ("/events", {"sent": "true"}, [e for v in sent for e in events[v]]),
        ("/events", {"sent": "false"}, not_sent),
        ("/events", {"validation_id": "v-2"}, events["v-2"]),
        ("/validations/v-1/events", {}, events["v-1"]),
        ("/validations", {}, [*before, *sent, "v-bad"]),
        ("/validations", {"sent": "true"}, sent),
        ("/validations", {"sent": "false"}, [*before, "v-bad"]),
    ):
        whole = await at_once(path, **params)
        assert sorted(whole) == sorted(expected), (path, params)
        for limit in (1, 2, 3):
            paged = await every_page(path, limit, **params)
            assert paged == whole, (path, params, limit)  # no item repeated or skipped, the same order


async def test_the_oauth2_client_credentials_flow_and_a_401(validas: Api, receiver: TlsReceiver,
                                                            tokens: TokenServer) -> None:
    """The token request authenticates the client with HTTP Basic (client_secret_basic) and a form body; the
    token is reused; a 401 drops it, and the notification is sent once more in the same attempt with a new one."""
    auth = {**oauth2(tokens), "scope": "webhooks"}
    (await validas.post(f"{BASE}/settings", {"url": receiver.url + "/hook", "auth": auth})).ok()
    (await validas.post("/v1/subjects", {"kind": "validation", "id": "v-1"})).ok()
    first = (await validas.patch("/v1/subjects/v-1", {"status": "on-course"})).ok()["event"]["id"]
    await validas.wait_event(first)
    tokens.expiry["token-1"] = 0  # the receiver no longer takes the cached token
    second = (await validas.patch("/v1/subjects/v-1", {"status": "selfie-uploaded"})).ok()["event"]["id"]
    done = await validas.wait_event(second)

    [delivery] = done["deliveries"]
    assert [a["status_code"] for a in delivery["attempts"]] == [200]  # the 401 and the resend are one attempt
    assert [r.headers["authorization"] for r in receiver.requests] == ["Bearer token-1"] * 2 + ["Bearer token-2"]
    assert receiver.requests[1].body == receiver.requests[2].body
    basic = "Basic " + base64.b64encode(b"validas:s3cret").decode()
    assert [(t.method, t.headers["authorization"], t.headers["content-type"], t.body) for t in tokens.requests] \
        == [("POST", basic, "application/x-www-form-urlencoded", b"grant_type=client_credentials&scope=webhooks")] * 2
