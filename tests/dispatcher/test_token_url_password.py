"""A password in an OAuth2 token URL's userinfo is never shown: not in the attempt's error when the token request
fails, not in the endpoint as the API answers it."""

from __future__ import annotations

import pytest

from tests.dispatcher.conftest import Engine
from tests.support.recording_transport import answer
from verihook.delivery.transport import OutboundRequest, Outcome
from verihook.model import AttemptError
from verihook.service.views import EndpointOut

TOKEN_URL = "https://client:s3cr3t-pw@tokens.example/oauth/token"


@pytest.mark.parametrize("token_answer", [
    Outcome(None, {}, b"", 1.0, AttemptError.CONNECT, "connection refused"),
    answer(500, b"{}"),
    answer(200, b"not json", "text/plain"),
], ids=["no answer", "500", "not json"])
async def test_the_token_urls_password_is_not_in_the_attempts_error(engine: Engine, token_answer: Outcome) -> None:
    def tokens_fail(request: OutboundRequest) -> Outcome:
        return token_answer if request.url.startswith("https://client:") else answer()

    engine.transport.handler = tokens_fail
    endpoint_id = await engine.endpoint(
        auth={"type": "oauth2", "token_url": TOKEN_URL, "client_id": "acme", "client_secret": "cs"},
        retry={"strategy": "none"})
    [delivery] = await engine.settle(await engine.publish())
    [attempt] = delivery.attempts
    assert attempt.error_detail is not None and "oauth2 token request to" in attempt.error_detail
    assert "s3cr3t-pw" not in attempt.error_detail
    assert "https://client:***@tokens.example/oauth/token" in attempt.error_detail
    view = await engine.runtime.service.endpoints.get(engine.caller, endpoint_id)
    assert "s3cr3t-pw" not in EndpointOut.of(view).model_dump_json()
