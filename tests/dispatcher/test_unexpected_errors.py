"""No delivery is stranded: an unexpected error while preparing or sending a request is a failed attempt, recorded
with its error and retried per the policy, never a delivery re-claimed lease after lease with no attempt."""

from __future__ import annotations

import asyncio
import sqlite3
import time
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


async def test_an_endpoint_whose_sealed_credential_no_key_opens_fails_alone(engine: Engine) -> None:
    """A credential sealed with a key that is gone: its tenant still publishes, its other endpoint still gets
    every event, and that endpoint's own deliveries fail attempt by attempt (standard schedule), never stranded."""
    broken_id = await engine.endpoint("https://broken.example/hook", auth={"type": "bearer", "token": "t0ken"})
    await engine.endpoint("https://healthy.example/hook")
    path = engine.runtime.settings.sqlite_path
    assert path is not None
    with sqlite3.connect(path) as db:
        db.execute("UPDATE endpoints SET auth = ?, updated_at = updated_at + 1 WHERE id = ?",
                   ('{"type": "bearer", "token": "sealed-by-a-lost-key"}', broken_id))
    event_ids = await engine.publish(3)
    await engine.transport.wait_for(3)
    assert {r.url for r in engine.transport.requests} == {"https://healthy.example/hook"}
    deadline = time.monotonic() + 10
    while True:
        broken = [d for event_id in event_ids for d in await engine.deliveries(event_id)
                  if d.endpoint_id == broken_id]
        if len(broken) == 3 and all(d.attempts for d in broken):
            break
        assert time.monotonic() < deadline, f"no attempt recorded for the broken endpoint: {broken}"
        await asyncio.sleep(0.02)
    for delivery in broken:
        assert delivery.status == "pending" and [a.error for a in delivery.attempts] == ["internal"]
        assert delivery.next_attempt_at is not None and delivery.next_attempt_at > time.time() + 1
