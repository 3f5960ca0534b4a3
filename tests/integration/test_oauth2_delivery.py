"""OAuth2 client credentials toward the receiver: token fetched once, reused, refreshed once on a 401."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import pytest

from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from tests.support.seed_servers import TokenServer


@pytest.fixture
async def token_server() -> AsyncIterator[TokenServer]:
    server = await TokenServer().start()
    yield server
    await server.stop()


def oauth2(token_server: TokenServer) -> dict[str, str]:
    return {"type": "oauth2", "token_url": token_server.url, "client_id": "verihook",
            "client_secret": "s3cret"}


async def test_the_token_is_fetched_once_as_documented_and_sent_as_bearer(
        api: Api, receiver: Receiver, token_server: TokenServer) -> None:
    await api.endpoint(receiver.url, auth=oauth2(token_server))
    events = [await api.publish("order.created", {"i": i}) for i in range(3)]
    for event in events:
        await api.wait_event(event["id"])

    assert [r.headers["authorization"] for r in receiver.requests] == ["Bearer token-1"] * 3
    [token_request] = token_server.requests
    headers, body = token_request.headers, token_request.body
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"verihook:s3cret").decode()
    assert parse_qs(body.decode()) == {"grant_type": ["client_credentials"]}


async def test_a_401_refreshes_the_token_once_and_resends(
        api: Api, receiver: Receiver, token_server: TokenServer) -> None:
    def reject_first_token(request: Received) -> Answer:
        return Answer(401) if request.headers.get("authorization") == "Bearer token-1" else Answer(200)

    receiver.handler = reject_first_token
    await api.endpoint(receiver.url, auth=oauth2(token_server), retry={"strategy": "none"})
    event = await api.publish()

    done = await api.wait_event(event["id"])

    assert [r.headers["authorization"] for r in receiver.requests] == ["Bearer token-1", "Bearer token-2"]
    assert done["deliveries"][0]["attempt_count"] == 1
    assert done["deliveries"][0]["attempts"][0]["request_headers"]["authorization"] == "Bearer ***"


async def test_a_failing_token_endpoint_is_an_auth_error_and_retried(api: Api, receiver: Receiver) -> None:
    broken = await Receiver([Answer(400, body=b'{"error":"invalid_client"}')]).start()
    try:
        await api.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [0.1]}, auth={
            "type": "oauth2", "token_url": broken.url + "/token", "client_id": "a", "client_secret": "b"})
        event = await api.publish()
        done = await api.wait_event(event["id"], status="failed")
        attempts = done["deliveries"][0]["attempts"]
        assert [a["error"] for a in attempts] == ["auth", "auth"]
        assert "400" in attempts[0]["error_detail"]
        assert receiver.requests == []
    finally:
        await broken.stop()
