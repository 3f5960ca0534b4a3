"""Incode's "the retry attempt request will be exactly the same as the initial one", on the wire: the retry is the
first request byte for byte (Authorization included) at the profile's delay, even across a restart; on every
transport."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.raw_server import RawAnswer, RawServer
from tests.support.seed_servers import TokenServer
from tests.support.server import (
    ADMIN_KEY,
    TRANSPORT_CASES,
    ServeProcess,
)

ONBOARDED = {"interviewId": "int-1", "externalId": "crm-1", "onboardingStatus": "ONBOARDING_FINISHED"}


EVERY_TRANSPORT = pytest.mark.parametrize(("database_url", "transport"), TRANSPORT_CASES, indirect=True)


@pytest.fixture
async def tokens() -> AsyncIterator[TokenServer]:
    server = await TokenServer(expires_in=3600).start()
    yield server
    await server.stop()


@pytest.fixture
async def incode(admin: Api) -> Api:
    return admin.as_key((await admin.tenant("incode client", profile="incode"))["api_key"])


def oauth2(tokens: TokenServer) -> dict[str, str]:
    return {"type": "oauth2", "token_url": tokens.url, "client_id": "incode-client", "client_secret": "s3cret"}


async def two_requests(raw: RawServer) -> tuple[Any, Any]:
    first, second = await raw.wait_for(2, timeout=15)
    await asyncio.sleep(0.3)  # nothing else comes
    assert len(raw.requests) == 2
    return first, second


@EVERY_TRANSPORT
async def test_a_401_is_the_failed_attempt_and_the_retry_repeats_it(incode: Api, tokens: TokenServer) -> None:
    raw = await RawServer(RawAnswer(401, {"Content-Type": "application/json"}, b'{"error":"invalid_token"}')).start()
    try:
        await incode.endpoint(raw.url + "/hooks/incode?client=acme&sig=a%2Fb%7E", auth=oauth2(tokens),
                              headers={"X-Api-Key": "static"})
        event = await incode.publish("onboarding.status_changed", ONBOARDED)
        first, second = await two_requests(raw)
        assert second.raw == first.raw
        assert first.header("authorization") == "Bearer token-1"
        assert 4 < second.at - first.at < 10
        done = await incode.wait_event(event["id"], "failed")
        assert [a["status_code"] for a in done["deliveries"][0]["attempts"]] == [401, 401]
        # the rejected token is dropped: the next notification carries a new one
        await incode.publish("onboarding.status_changed", {**ONBOARDED, "interviewId": "int-2"})
        third = (await raw.wait_for(3))[2]
        assert third.header("authorization") == "Bearer token-2"
    finally:
        await raw.stop()


@EVERY_TRANSPORT
async def test_retry_after_does_not_move_the_retry(incode: Api) -> None:
    raw = await RawServer(RawAnswer(503, {"Content-Type": "application/json", "Retry-After": "120"}, b"{}")).start()
    try:
        await incode.endpoint(raw.url)
        await incode.publish("onboarding.status_changed", ONBOARDED)
        first, second = await two_requests(raw)
        assert second.raw == first.raw
        assert 4 < second.at - first.at < 10
    finally:
        await raw.stop()


@EVERY_TRANSPORT
async def test_a_token_renewed_between_the_attempts_serves_only_later_notifications(
    incode: Api, tokens: TokenServer
) -> None:
    tokens.expires_in = 1  # gone before the retry falls due
    raw = await RawServer(RawAnswer(500, {"Content-Type": "application/json"}, b'{"success":false}')).start()
    try:
        await incode.endpoint(raw.url, auth=oauth2(tokens))
        await incode.publish("onboarding.status_changed", ONBOARDED)
        first, second = await two_requests(raw)
        assert second.raw == first.raw and first.header("authorization") == "Bearer token-1"
        await incode.publish("watchlist.updated", {"interviewId": "int-1", "ref": "r", "search_id": "s"})
        third = (await raw.wait_for(3))[2]
        assert third.header("authorization") == "Bearer token-2"
    finally:
        await raw.stop()


@pytest.mark.parametrize(("database_url", "transport"), TRANSPORT_CASES, indirect=["database_url"])
async def test_the_retry_repeats_the_first_request_across_a_restart(
    tmp_path: Path, database_url: str, transport: str, http: aiohttp.ClientSession, tokens: TokenServer
) -> None:
    tokens.expires_in = 1
    raw = await RawServer(RawAnswer(500, {"Content-Type": "application/json"}, b"{}")).start()
    serve = ServeProcess(database_url, tmp_path, env={"VERIHOOK_TRANSPORT": transport})
    await serve.start()
    try:
        admin = Api(serve.base_url, ADMIN_KEY, http)
        incode = admin.as_key((await admin.tenant("incode client", profile="incode"))["api_key"])
        await incode.endpoint(raw.url + "/incode?x=%2F", auth=oauth2(tokens), headers={"X-Api-Key": "static"})
        await incode.publish("onboarding.status_changed", ONBOARDED)
        [first] = await raw.wait_for(1)
        await asyncio.sleep(0.5)  # its outcome is written
        serve.kill(signal.SIGKILL)
        await asyncio.sleep(1.5)  # the token expires while nothing runs

        serve = ServeProcess(database_url, tmp_path, env={"VERIHOOK_TRANSPORT": transport})
        await serve.start()
        [_, second] = await raw.wait_for(2, timeout=15)
        assert second.raw == first.raw
        assert first.header("authorization") == "Bearer token-1" and len(tokens.requests) == 1
        assert time.time() - first.at < 15
    finally:
        serve.kill()
        await raw.stop()
