"""A dispatcher told to stop finishes every send it has started, and those its lanes start while it stops, and
writes their outcomes: nothing it sent is left to a lease (which would send it again)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from tests.support.recording_transport import RecordingTransport, answer
from tests.support.server import settings_for_tests
from verihook.config import DispatcherSettings
from verihook.delivery.transport import OutboundRequest, Outcome
from verihook.model import EventFilter
from verihook.runtime import build_runtime
from verihook.service import ADMIN, EventInput

EVENTS = 300


async def test_every_request_sent_while_stopping_has_its_attempt_written(tmp_path: Path) -> None:
    delays = itertools.cycle([0.002, 0.02, 0.005, 0.04, 0.01])

    async def answer_after_a_while(_: OutboundRequest) -> Outcome:
        await asyncio.sleep(next(delays))
        return answer()

    transport = RecordingTransport(answer_after_a_while)
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}",
                                  dispatcher=DispatcherSettings(poll_interval_s=0.1))
    runtime = await build_runtime(settings, transport=transport)
    service = runtime.service
    try:
        tenant = await service.tenants.create(ADMIN, "acme")
        caller = await service.authenticate(tenant.api_key)
        await service.endpoints.create(caller, {"url": "https://receiver.example/hook"})
        published = await service.events.publish(caller, [EventInput(type="kyc.checked", data={"n": n})
                                                          for n in range(EVENTS)], batch=True)
        running = asyncio.create_task(runtime.run_dispatcher())
        await transport.wait_for(1)  # the lane's first window is out; it grows with each answer
        await runtime.dispatcher.stop()
        await running
        sent = {dict(request.headers)["webhook-id"] for request in transport.requests}
        unrecorded = [p.event.id for p in published if p.event.id in sent
                      and (await service.events.get(caller, p.event.id)).deliveries[0].attempt_count == 0]
    finally:
        await runtime.close()
    assert len(sent) > 8  # the window grew while the dispatcher was stopping
    assert unrecorded == [], f"{len(unrecorded)} of {len(sent)} sent while stopping were never recorded"


async def test_the_news_of_a_delivery_failed_in_the_last_write_before_a_stop_is_published(tmp_path: Path) -> None:
    """A stop writes the outcomes still buffered; the `verihook.delivery.exhausted` news of a failure among them is
    published before the dispatcher's run ends (it was left to a task nobody waited for: a process that exits once
    its dispatcher has stopped, or a store closed under it, lost it)."""
    transport = RecordingTransport(lambda request: answer(500) if request.url.endswith("/hook") else answer())
    # outcomes wait for the stop's final write: a flush interval longer than the test
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}",
                                  dispatcher=DispatcherSettings(poll_interval_s=0.1, flush_interval_s=60.0))
    runtime = await build_runtime(settings, transport=transport)
    service = runtime.service
    try:
        tenant = await service.tenants.create(ADMIN, "acme")
        caller = await service.authenticate(tenant.api_key)
        await service.endpoints.create(caller, {"url": "https://receiver.example/hook", "retry": {"strategy": "none"},
                                                "auto_disable": None})
        await service.endpoints.create(caller, {"url": "https://receiver.example/news",
                                                "event_types": ["verihook.delivery.exhausted"]})
        [failed] = await service.events.publish(caller, [EventInput(type="kyc.checked", data={})])
        running = asyncio.create_task(runtime.run_dispatcher())
        await transport.wait_for(1)
        await asyncio.sleep(0.2)  # its outcome is buffered, not written
        assert (await service.events.get(caller, failed.event.id)).deliveries[0].attempt_count == 0
        await runtime.dispatcher.stop()
        await running
        assert (await service.events.get(caller, failed.event.id)).deliveries[0].status.value == "failed"
        news = await service.events.list(caller, EventFilter(type="verihook.delivery.exhausted"), 10, None)
        assert [e.data["event_id"] for e in news.items] == [failed.event.id]
    finally:
        await runtime.close()
