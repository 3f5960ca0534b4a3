"""The news sweep: a delivery whose failure was written by a process killed before it published the
`verihook.delivery.exhausted` news gets that news from the next process that starts, once; news published already
is never made twice."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from tests.integration.test_store_contract import a_result
from tests.support.recording_transport import RecordingTransport, answer
from tests.support.server import settings_for_tests
from verihook import operational
from verihook.config import DispatcherSettings
from verihook.model import DeliveryStatus, EventFilter
from verihook.runtime import Runtime, build_runtime
from verihook.service import ADMIN, Caller, EventInput
from verihook.service.news_sweep import GRACE_S, NewsSweep

EXHAUSTED = "verihook.delivery.exhausted"


async def _failed_as_a_killed_process_leaves_it(runtime: Runtime, caller: Caller, at: float) -> str:
    """An event whose one delivery was claimed, sent and written `failed` at `at`, with no news published: the
    state a dispatcher killed between its outcome write and its news leaves."""
    [published] = await runtime.service.events.publish(caller, [EventInput(type="kyc.checked", data={})])
    [due] = await runtime.store.claim_due(time.time(), 10)
    await runtime.store.record_results([a_result(due.id, due.event_id, 1, DeliveryStatus.FAILED, code=500)], at)
    return published.event.id


async def _tenant_hearing_news(runtime: Runtime, **hook: object) -> Caller:
    """A tenant with an endpoint for its events (`hook`: more of its fields) and one for the exhausted news."""
    tenant = await runtime.service.tenants.create(ADMIN, "acme")
    caller = await runtime.service.authenticate(tenant.api_key)
    await runtime.service.endpoints.create(caller, {"url": "https://receiver.example/hook", **hook})
    await runtime.service.endpoints.create(caller, {"url": "https://receiver.example/news",
                                                    "event_types": [EXHAUSTED]})
    return caller


async def _news(runtime: Runtime, caller: Caller) -> list[str]:
    page = await runtime.service.events.list(caller, EventFilter(type=EXHAUSTED), 10, None)
    return [event.data["event_id"] for event in page.items]


async def test_the_next_process_publishes_the_news_a_killed_one_lost_once(tmp_path: Path) -> None:
    transport = RecordingTransport(lambda request: answer(500) if request.url.endswith("/hook") else answer())
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}",
                                  dispatcher=DispatcherSettings(poll_interval_s=0.1))
    runtime = await build_runtime(settings, transport=transport)
    try:
        caller = await _tenant_hearing_news(runtime, retry={"strategy": "none"}, auto_disable=None)
        failed_id = await _failed_as_a_killed_process_leaves_it(runtime, caller, time.time() - 2 * GRACE_S)
        assert await _news(runtime, caller) == []
    finally:
        await runtime.close()

    runtime = await build_runtime(settings, transport=transport)  # the next process: its dispatcher sweeps at start
    running = asyncio.create_task(runtime.run_dispatcher())
    try:
        [news] = await transport.wait_for(1)
        assert news.url == "https://receiver.example/news"
        assert await _news(runtime, caller) == [failed_id]
        # the same news again (the sweep of another process, or the dispatcher's own publish) makes nothing
        assert await NewsSweep(runtime.store, runtime.service.events.publish_operational).sweep() == 0
        [delivery] = (await runtime.service.events.get(caller, failed_id)).deliveries
        assert caller.tenant is not None
        again = operational.delivery_exhausted(
            caller.tenant.id, event_id=failed_id, delivery_id=delivery.id, endpoint_id=delivery.endpoint_id,
            url=delivery.url, attempts=1, last_status_code=500, last_error=None)
        [duplicate] = await runtime.service.events.publish_operational([again])
        assert duplicate.duplicate
        assert await _news(runtime, caller) == [failed_id]
        await asyncio.sleep(0.3)
        assert len(transport.requests) == 1
    finally:
        await runtime.dispatcher.stop()
        await running
        await runtime.close()


async def test_a_sweep_leaves_recent_failures_to_the_dispatcher_and_covers_only_its_window(tmp_path: Path) -> None:
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}")
    runtime = await build_runtime(settings, transport=RecordingTransport())
    try:
        caller = await _tenant_hearing_news(runtime)
        now = time.time()
        too_old = await _failed_as_a_killed_process_leaves_it(runtime, caller, now - 3 * 3600)
        lost = await _failed_as_a_killed_process_leaves_it(runtime, caller, now - 600)
        recent = await _failed_as_a_killed_process_leaves_it(runtime, caller, now - 5)
        sweep = NewsSweep(runtime.store, runtime.service.events.publish_operational, clock=lambda: now,
                          window_s=3600, grace_s=60, batch=1)  # one a batch: the paging is walked
        assert await sweep.sweep() == 1
        assert await _news(runtime, caller) == [lost]
        later = NewsSweep(runtime.store, runtime.service.events.publish_operational, clock=lambda: now + 120,
                          window_s=3600, grace_s=60)
        assert await later.sweep() == 1
        assert sorted(await _news(runtime, caller)) == sorted([lost, recent])
        assert too_old not in await _news(runtime, caller)
    finally:
        await runtime.close()


async def test_news_from_before_it_had_keys_is_never_swept(tmp_path: Path) -> None:
    """A database that had deliveries before migration 0009 records when news got keys: what failed before that had
    its news published without one, and is not published a second time."""
    path = tmp_path / "verihook.db"
    runtime = await build_runtime(settings_for_tests(f"sqlite:///{path}"), transport=RecordingTransport())
    try:
        caller = await _tenant_hearing_news(runtime)
        now = time.time()
        before = await _failed_as_a_killed_process_leaves_it(runtime, caller, now - 1200)
        after = await _failed_as_a_killed_process_leaves_it(runtime, caller, now - 600)
        with sqlite3.connect(path) as conn:  # as migration 0009 leaves a database that had deliveries
            conn.execute("UPDATE meta SET value = ? WHERE key = 'news_keyed_since'", (str(now - 900),))
        sweep = NewsSweep(runtime.store, runtime.service.events.publish_operational, clock=lambda: now)
        assert await sweep.sweep() == 1
        assert await _news(runtime, caller) == [after]
        assert before not in await _news(runtime, caller)
    finally:
        await runtime.close()


async def test_a_tenant_cannot_take_the_key_of_operational_news(tmp_path: Path) -> None:
    runtime = await build_runtime(settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}"),
                                  transport=RecordingTransport())
    try:
        tenant = await runtime.service.tenants.create(ADMIN, "acme")
        caller = await runtime.service.authenticate(tenant.api_key)
        try:
            await runtime.service.events.publish(caller, [EventInput(
                type="kyc.checked", data={}, idempotency_key="verihook.delivery.exhausted:dlv_x:1")])
        except Exception as error:
            assert getattr(error, "field", None) == "idempotency_key", error
        else:
            raise AssertionError("a key in the operational news's namespace was accepted")
    finally:
        await runtime.close()
