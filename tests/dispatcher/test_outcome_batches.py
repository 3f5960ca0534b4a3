"""Outcomes are written in groups: answers that come in together are one store write, not one write each."""

from __future__ import annotations

import asyncio

from tests.dispatcher.conftest import Engine
from tests.support.recording_transport import answer
from verihook.delivery.transport import OutboundRequest, Outcome

ENDPOINTS = 40


async def test_answers_that_arrive_together_are_written_in_one_or_two_writes(engine: Engine) -> None:
    all_arrived = asyncio.Event()

    async def answer_when_all_arrived(_: OutboundRequest) -> Outcome:
        if len(engine.transport.requests) >= ENDPOINTS:
            all_arrived.set()
        await all_arrived.wait()
        return answer()

    engine.transport.handler = answer_when_all_arrived
    for n in range(ENDPOINTS):
        await engine.endpoint(f"https://receiver-{n}.example/hook")
    before = engine.runtime.metrics.outcome_writes
    [event_id] = await engine.publish()
    deliveries = await engine.settle([event_id])
    assert [d.status for d in deliveries] == ["succeeded"] * ENDPOINTS
    # a write under way when the first answers are recorded may split them in two; one write each would be 40
    assert 1 <= engine.runtime.metrics.outcome_writes - before <= 2
