"""The target guard through the API, with private targets refused (as in production; every other API test allows
them): an IP literal in a refused range is refused when an endpoint is created or changed, and a host name that
resolves to one is accepted then but refused when connecting, by both transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.api import Api, Reply
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY, TRANSPORT_CASES, running_verihook, settings_for_tests

REFUSED_URLS = [
    "http://127.0.0.1:9/hook",  # loopback
    "http://10.1.2.3/hook",  # private
    "http://169.254.169.254/latest/meta-data/",  # link-local: the cloud metadata address
    "http://[::1]:8080/hook",  # IPv6 loopback
    "http://2130706433/hook",  # 127.0.0.1 in a legacy numeric form
]
ALLOWED_URL = "https://hooks.example.com/verihook"  # a public name: not resolved when an endpoint is saved
REFUSED_ERROR = "target refused by policy"  # model.AttemptError.REFUSED_BY_POLICY, as docs/API.md lists it


@pytest.fixture
async def guarded(database_url: str, transport: str | None, http: aiohttp.ClientSession) -> AsyncIterator[Api]:
    """A tenant's client on a Verihook that refuses private targets."""
    settings = settings_for_tests(database_url, allow_private_targets=False)
    if transport is not None:
        settings = settings.with_(transport=transport)
    async with running_verihook(settings) as running:
        admin = Api(running.base_url, ADMIN_KEY, http)
        yield await admin.as_new_tenant("guarded")


def assert_refused_url(reply: Reply, field: str = "url") -> None:
    assert reply.status == 422, reply.body
    assert reply.content_type.startswith("application/problem+json")
    assert reply.body["field"] == field
    assert REFUSED_ERROR in reply.body["detail"]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_an_endpoint_at_a_refused_address_is_refused_and_not_stored(guarded: Api, url: str) -> None:
    assert_refused_url(await guarded.post("/v1/endpoints", {"url": url}))
    assert (await guarded.get("/v1/endpoints")).ok()["data"] == []


async def test_changing_an_endpoint_to_a_refused_address_is_refused_and_changes_nothing(guarded: Api) -> None:
    endpoint = await guarded.endpoint(ALLOWED_URL, description="before")
    for url in REFUSED_URLS:
        assert_refused_url(await guarded.patch(f"/v1/endpoints/{endpoint['id']}",
                                               {"url": url, "description": "after"}))
    kept = (await guarded.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert (kept["url"], kept["description"]) == (ALLOWED_URL, "before")


async def test_a_subject_webhook_url_at_a_refused_address_is_refused(guarded: Api) -> None:
    reply = await guarded.post("/v1/subjects", {"kind": "process", "webhook_url": REFUSED_URLS[0]})
    assert_refused_url(reply, field="webhook_url")
    assert (await guarded.get("/v1/subjects")).ok()["data"] == []


@pytest.mark.parametrize(("database_url", "transport"), TRANSPORT_CASES, indirect=True)
async def test_a_name_resolving_to_loopback_is_accepted_but_never_connected_to(
        guarded: Api, receiver: Receiver) -> None:
    endpoint = await guarded.endpoint(f"http://localhost:{receiver.port}/hook",
                                      retry={"strategy": "schedule", "delays_s": [0.1]})
    event = await guarded.publish("order.created", {"order": "o-1"})

    done = await guarded.wait_event(event["id"], status="failed")

    [delivery] = done["deliveries"]
    assert delivery["last_error"] == REFUSED_ERROR
    attempts: list[dict[str, Any]] = delivery["attempts"]
    assert [(a["status_code"], a["error"]) for a in attempts] == [(None, REFUSED_ERROR)] * 2  # retried per policy
    # the tenant learns that the name is refused, never which private address it resolves to
    assert all("localhost" in a["error_detail"] and "127.0.0.1" not in a["error_detail"] for a in attempts), attempts
    tested = (await guarded.post(f"/v1/endpoints/{endpoint['id']}/test")).ok()
    assert tested["ok"] is False and tested["status_code"] is None and tested["error"] == REFUSED_ERROR
    assert "127.0.0.1" not in tested["error_detail"], tested
    assert receiver.requests == []


def oauth2(token_url: str) -> dict[str, Any]:
    return {"type": "oauth2", "token_url": token_url, "client_id": "c", "client_secret": "s3cret"}


async def test_an_oauth2_token_url_at_a_refused_address_is_refused_on_creation_and_change(guarded: Api) -> None:
    """The client secret goes to the token URL: it passes the same guard as the endpoint's URL."""
    for url in REFUSED_URLS:
        assert_refused_url(await guarded.post("/v1/endpoints", {"url": ALLOWED_URL, "auth": oauth2(url)}),
                           field="auth.token_url")
    assert (await guarded.get("/v1/endpoints")).ok()["data"] == []
    endpoint = await guarded.endpoint(ALLOWED_URL, auth=oauth2("https://auth.example.com/token"))
    for url in REFUSED_URLS:
        assert_refused_url(await guarded.patch(f"/v1/endpoints/{endpoint['id']}", {"auth": oauth2(url)}),
                           field="auth.token_url")
    kept = (await guarded.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert kept["auth"]["token_url"] == "https://auth.example.com/token"


async def test_a_plain_http_token_url_is_refused_where_https_is_required(admin: Api) -> None:
    strict = admin.as_key((await admin.tenant("strict", require_https=True))["api_key"])
    reply = await strict.post("/v1/endpoints", {"url": ALLOWED_URL, "auth": oauth2("http://auth.example.com/token")})
    assert reply.status == 422 and reply.body["field"] == "auth.token_url" and "https" in reply.body["detail"]
    plain = await admin.as_new_tenant("plain")
    reply = await plain.post("/v1/endpoints", {"url": ALLOWED_URL, "profile": "validas",
                                               "auth": oauth2("http://auth.example.com/token")})
    assert reply.status == 422 and reply.body["field"] == "auth.token_url" and "https" in reply.body["detail"]
    assert (await strict.get("/v1/endpoints")).ok()["data"] == []
    assert (await plain.get("/v1/endpoints")).ok()["data"] == []
    (await strict.post("/v1/endpoints", {"url": ALLOWED_URL, "auth": oauth2("https://auth.example.com/t")})).ok()
