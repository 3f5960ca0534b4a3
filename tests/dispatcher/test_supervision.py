"""A side task that dies from an exception (not a cancellation) is logged, started again, and reported down by the
readiness probe meanwhile; deliveries go on and nothing is lost.

The side task here is the dispatcher's LISTEN task, over the seam the dispatcher takes for it (a PostgreSQL
store's `listen_for_work`; on SQLite there is nothing to listen to): its first run fails as a broken LISTEN
connection would, its second listens until stopped. The dispatcher, recorder, supervisor, store and health
service are Verihook's own; requests go to the recording transport.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.recording_transport import RecordingTransport
from tests.support.server import settings_for_tests
from verihook.config import DispatcherSettings
from verihook.delivery.dispatcher import Dispatcher
from verihook.runtime import build_runtime
from verihook.service import ADMIN, EventInput
from verihook.service.health import DispatcherState, Health


async def test_a_side_task_that_fails_is_reported_down_then_restarted_and_nothing_is_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}",
                                  dispatcher=DispatcherSettings(poll_interval_s=0.05))
    transport = RecordingTransport()
    runtime = await build_runtime(settings, transport=transport)  # its own dispatcher is never run here
    listen_runs = 0
    failing = asyncio.Event()
    fail_now = asyncio.Event()

    async def listen(wake: Callable[[], None]) -> None:
        nonlocal listen_runs
        listen_runs += 1
        if listen_runs == 1:
            failing.set()
            await fail_now.wait()
            raise ConnectionResetError("LISTEN connection lost")
        await asyncio.Event().wait()  # listens until stopped

    base = runtime.dispatcher
    dispatcher = Dispatcher(runtime.store, base.sender, base.destinations, settings.dispatcher, runtime.metrics,
                            listen=listen)
    health = Health(runtime.store, runtime.metrics, time.time, settings.stall_after_s, DispatcherState(
        problems=dispatcher.problems, side_task_restarts=lambda: dispatcher.supervisor.restarts,
        stalled_sends=lambda: dispatcher.stalled_sends))
    running = asyncio.create_task(dispatcher.run())
    try:
        made = await runtime.service.tenants.create(ADMIN, "acme")
        caller = await runtime.service.authenticate(made.api_key)
        await runtime.service.endpoints.create(caller, {"url": "https://receiver.example/hook"})

        async def publish(count: int) -> list[str]:
            published = await runtime.service.events.publish(
                caller, [EventInput(type="kyc.checked", data={"n": n}) for n in range(count)], batch=True)
            return [p.event.id for p in published]

        await asyncio.wait_for(failing.wait(), 5)
        assert await health.readiness(delivers=True) == []
        event_ids = await publish(20)
        with caplog.at_level(logging.ERROR, logger="verihook.supervisor"):
            fail_now.set()
            deadline = time.monotonic() + 2
            while (problems := await health.readiness(delivers=True)) == []:
                assert time.monotonic() < deadline, "the failed task was never reported down"
                await asyncio.sleep(0.005)
            assert problems == ["side task verihook-listen is not running"]
            event_ids += await publish(20)  # published while it is down
            deadline = time.monotonic() + 5
            while await health.readiness(delivers=True):
                assert time.monotonic() < deadline, "the task did not come back"
                await asyncio.sleep(0.02)
        assert listen_runs == 2
        assert dispatcher.supervisor.restarts["verihook-listen"] == 1
        assert any("verihook-listen failed: ConnectionResetError" in r.getMessage() and r.exc_info
                   for r in caplog.records)  # logged with its traceback
        await transport.wait_for(len(event_ids))
        deadline = time.monotonic() + 10
        while True:
            deliveries = [d for event_id in event_ids
                          for d in (await runtime.service.events.get(caller, event_id)).deliveries]
            if all(d.status == "succeeded" for d in deliveries):
                break
            assert time.monotonic() < deadline, "not every delivery was recorded"
            await asyncio.sleep(0.02)
        assert [d.attempt_count for d in deliveries] == [1] * len(event_ids)  # each sent once
        assert sorted(dict(r.headers)["webhook-id"] for r in transport.requests) == sorted(event_ids)
        metrics = await health.metrics_text(delivers=True)
        assert 'verihook_side_task_restarts_total{task="verihook-listen"} 1' in metrics
    finally:
        await dispatcher.stop()
        await running
        await runtime.close()


async def test_a_side_task_that_does_not_end_when_cancelled_does_not_hold_the_stop_forever(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Python 3.11's wait_for can lose a cancellation that meets a timeout (inside asyncpg's connect, for one): a
    # dispatcher process that waited for such a task never ended (seen in CI: a child left behind after its
    # serve was killed and its database dropped, reconnecting its LISTEN for ever).
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}",
                                  dispatcher=DispatcherSettings(poll_interval_s=0.05))
    runtime = await build_runtime(settings, transport=RecordingTransport())
    listening = asyncio.Event()
    released = asyncio.Event()

    async def listen(wake: Callable[[], None]) -> None:
        listening.set()
        while not released.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # the cancellation is lost

    base = runtime.dispatcher
    dispatcher = Dispatcher(runtime.store, base.sender, base.destinations, settings.dispatcher, runtime.metrics,
                            listen=listen)
    running = asyncio.create_task(dispatcher.run())
    try:
        await asyncio.wait_for(listening.wait(), 5)
        with caplog.at_level(logging.ERROR, logger="verihook.supervisor"):
            started = time.monotonic()
            await dispatcher.stop()
            await asyncio.wait_for(running, 20)
            assert time.monotonic() - started < 10
        assert any("verihook-listen did not end" in r.getMessage() for r in caplog.records)
    finally:
        released.set()
        leftover = dispatcher.supervisor.task("verihook-listen")
        if leftover is not None:
            leftover.cancel()
        await runtime.close()
