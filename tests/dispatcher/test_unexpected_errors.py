"""No delivery is stranded: an unexpected error while preparing or sending a request is a failed attempt, recorded
with its error and retried per the policy, never a delivery re-claimed lease after lease with no attempt."""

from __future__ import annotations

from dataclasses import replace

from tests.dispatcher.conftest import Engine
from tests.support.recording_transport import answer
from verihook.delivery.transport import OutboundRequest, Outcome
from verihook.model import SigningSecret

RETRY_TWICE = {"strategy": "schedule", "delays_s": [0.05, 0.05]}


async def test_an_error_inside_the_transport_is_a_failed_attempt_retried_per_policy(engine: Engine) -> None:
    calls = 0

    def flaky(request: OutboundRequest) -> Outcome:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("a bug in the client")
        return answer()

    engine.transport.handler = flaky
    await engine.endpoint(retry=RETRY_TWICE)
    [delivery] = await engine.settle(await engine.publish())
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 3)
    first, second, third = delivery.attempts
    assert (first.error, second.error, third.error) == ("internal", "internal", None)
    assert first.error_detail == "Verihook could not prepare or send the request (RuntimeError)"
    assert "a bug" not in (first.error_detail or "")  # the text of an error may quote a secret: never recorded


async def test_errors_every_time_exhaust_the_policy_and_fail(engine: Engine) -> None:
    def broken(_: OutboundRequest) -> Outcome:
        raise ValueError("header value refused")

    engine.transport.handler = broken
    await engine.endpoint(retry=RETRY_TWICE)
    [delivery] = await engine.settle(await engine.publish())
    assert (delivery.status, [a.error for a in delivery.attempts]) == ("failed", ["internal"] * 3)


async def test_a_stored_signing_secret_that_does_not_decode_fails_its_attempts(engine: Engine) -> None:
    """Such a secret can no longer be set through the API; a corrupted row must still not strand deliveries."""
    endpoint_id = await engine.endpoint(retry=RETRY_TWICE)
    store = engine.runtime.store
    endpoint = await store.get_endpoint(endpoint_id)
    assert endpoint is not None
    await store.update_endpoint(replace(endpoint, signing_secrets=[SigningSecret("whsec_!!!!")],
                                        updated_at=endpoint.updated_at + 1))
    [delivery] = await engine.settle(await engine.publish())
    assert (delivery.status, [a.error for a in delivery.attempts]) == ("failed", ["internal"] * 3)
    detail = delivery.attempts[0].error_detail or ""
    assert "the signing secret is empty" in detail and "!!!!" not in detail  # b64decode drops the "!"s
    assert engine.transport.requests == []  # nothing went out half-signed
