"""What follows an answer, per the destination's rules, without HTTP: a retry schedule runs out, Retry-After moves a
retry for 429 and 503 (not for other answers, and not where a retry must repeat the first request), and 410 Gone
disables a `standard` endpoint but not a seed profile's. The end-to-end versions in tests/integration
(test_delivery.py, test_seed_promises.py, test_incode_identical_retry.py) keep proving the wiring through real
receivers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.dispatcher.conftest import Engine
from tests.support.recording_transport import answer
from verihook.delivery.transport import OutboundRequest, Outcome
from verihook.model import Delivery
from verihook.service import ADMIN, EventInput

ONE_QUICK_RETRY = {"strategy": "schedule", "delays_s": [0.05]}


def answering(*outcomes: Outcome) -> Any:
    """A handler answering `outcomes` in turn, the last one from then on."""
    queue = list(outcomes)

    def handler(_: OutboundRequest) -> Outcome:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


async def after_attempts(engine: Engine, event_id: str, count: int, caller: Any = None) -> Delivery:
    deadline = time.monotonic() + 10
    while True:
        [delivery] = (await engine.runtime.service.events.get(caller or engine.caller, event_id)).deliveries
        if delivery.attempt_count >= count:
            return delivery
        assert time.monotonic() < deadline, f"fewer than {count} attempts recorded: {delivery}"
        await asyncio.sleep(0.01)


async def test_a_schedule_that_runs_out_fails_the_delivery(engine: Engine) -> None:
    engine.transport.handler = answering(answer(500))
    await engine.endpoint(retry={"strategy": "schedule", "delays_s": [0.05, 0.05]})
    [delivery] = await engine.settle(await engine.publish())
    assert (delivery.status, [a.status_code for a in delivery.attempts]) == ("failed", [500, 500, 500])
    assert delivery.next_attempt_at is None
    assert len(engine.transport.requests) == 3


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("retry_after", ["120", "HTTP-DATE"])
async def test_retry_after_moves_the_retry_of_a_429_or_503(engine: Engine, status: int, retry_after: str) -> None:
    if retry_after == "HTTP-DATE":
        retry_after = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 121))
    engine.transport.handler = answering(answer(status, **{"retry-after": retry_after}), answer())
    await engine.endpoint(retry=ONE_QUICK_RETRY)
    [event_id] = await engine.publish()
    delivery = await after_attempts(engine, event_id, 1)
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    assert 110 < delivery.next_attempt_at - time.time() <= 121  # not the schedule's 0.05 s


@pytest.mark.parametrize("status", [500, 502, 408])
async def test_retry_after_is_not_read_from_other_answers(engine: Engine, status: int) -> None:
    engine.transport.handler = answering(answer(status, **{"retry-after": "120"}), answer())
    await engine.endpoint(retry=ONE_QUICK_RETRY)
    [delivery] = await engine.settle(await engine.publish())
    assert [a.status_code for a in delivery.attempts] == [status, 200]


async def test_retry_after_never_creates_a_retry_the_policy_does_not_have(engine: Engine) -> None:
    engine.transport.handler = answering(answer(503, **{"retry-after": "1"}))
    await engine.endpoint(retry={"strategy": "none"})
    [delivery] = await engine.settle(await engine.publish())
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)


async def test_retry_after_does_not_move_an_identical_retry(engine: Engine) -> None:
    """Incode's retry repeats the first request at the profile's delay (5 s), whatever Retry-After says."""
    made = await engine.runtime.service.tenants.create(ADMIN, "incode client", profile="incode")
    incode = await engine.runtime.service.authenticate(made.api_key)
    await engine.runtime.service.endpoints.create(incode, {"url": "https://incode-receiver.example/hook"})
    engine.transport.handler = answering(answer(503, **{"retry-after": "120"}))
    [published] = await engine.runtime.service.events.publish(incode, [EventInput(
        type="onboarding.status_changed",
        data={"interviewId": "int-1", "externalId": "crm-1", "onboardingStatus": "ONBOARDING_FINISHED"})])
    delivery = await after_attempts(engine, published.event.id, 1, incode)
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    assert 3 < delivery.next_attempt_at - time.time() <= 5.5


async def test_410_disables_a_standard_endpoint_and_ends_the_delivery(engine: Engine) -> None:
    engine.transport.handler = answering(answer(410))
    endpoint_id = await engine.endpoint(retry={"strategy": "schedule", "delays_s": [0.05, 0.05]})
    [delivery] = await engine.settle(await engine.publish())
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)  # no retry after a 410
    shown = (await engine.runtime.service.endpoints.get(engine.caller, endpoint_id)).endpoint
    assert shown.enabled is False and "410" in (shown.disabled_reason or "")
    [later] = await engine.publish()
    assert [d.endpoint_id for d in await engine.deliveries(later) if d.status == "pending"] == []
    assert len(engine.transport.requests) == 1


@pytest.mark.parametrize("profile", ["attestr", "credas", "incode"])
async def test_410_leaves_a_seed_profile_endpoint_enabled(engine: Engine, profile: str) -> None:
    """No seed documents 410: it is an ordinary failed attempt, retried per the profile's policy."""
    made = await engine.runtime.service.tenants.create(ADMIN, f"{profile} client", profile=profile)
    client = await engine.runtime.service.authenticate(made.api_key)
    fields: dict[str, Any] = {"url": "https://seed-receiver.example/hook"}
    if profile == "attestr":
        fields["auth"] = {"type": "basic", "token": "t0ken"}
    view = await engine.runtime.service.endpoints.create(client, fields)
    engine.transport.handler = answering(answer(410, b"", content_type=""))
    event_type, data = {
        "attestr": ("async.completed", {"_id": "a1"}),
        "credas": ("process_actor.updated", {"clientId": "c", "processId": "p", "processActorId": 1,
                                             "entityId": "e", "smsStatus": 2, "emailStatus": 2}),
        "incode": ("watchlist.updated", {"interviewId": "i", "ref": "r", "search_id": "s"}),
    }[profile]
    [published] = await engine.runtime.service.events.publish(client, [EventInput(type=event_type, data=data)])
    delivery = await after_attempts(engine, published.event.id, 1, client)
    assert delivery.attempts[0].status_code == 410
    assert delivery.status == ("failed" if profile == "attestr" else "pending")  # Attestr sends once
    shown = (await engine.runtime.service.endpoints.get(client, view.endpoint.id)).endpoint
    assert (shown.enabled, shown.disabled_reason) == (True, None)
