"""The dispatcher tier: a real Verihook runtime (store, service, dispatcher) on a temporary SQLite file, sending
through an in-process recording transport, driven through the service as the API drives it. No HTTP anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.recording_transport import RecordingTransport
from tests.support.server import settings_for_tests
from verihook.config import DispatcherSettings
from verihook.model import Delivery
from verihook.runtime import Runtime, build_runtime
from verihook.service import ADMIN, Caller, EventInput


@dataclass(slots=True)
class Engine:
    runtime: Runtime
    transport: RecordingTransport
    caller: Caller  # a tenant's caller
    tenant_id: str

    async def endpoint(self, url: str = "https://receiver.example/hook", **fields: Any) -> str:
        view = await self.runtime.service.endpoints.create(self.caller, {"url": url, **fields})
        return view.endpoint.id

    async def publish(self, count: int = 1, type: str = "kyc.checked") -> list[str]:
        published = await self.runtime.service.events.publish(
            self.caller, [EventInput(type=type, data={"n": n}) for n in range(count)], batch=True)
        return [p.event.id for p in published]

    async def deliveries(self, event_id: str) -> list[Delivery]:
        return (await self.runtime.service.events.get(self.caller, event_id)).deliveries

    async def settle(self, event_ids: list[str], timeout: float = 10.0) -> list[Delivery]:
        """Wait until no delivery of these events is pending; answer them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for event_id in event_ids for d in await self.deliveries(event_id)]
            if found and all(d.status != "pending" for d in found):
                return found
            assert time.monotonic() < deadline, f"still pending: {[d for d in found if d.status == 'pending']}"
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_engine(tmp_path: Path, **dispatcher: Any) -> AsyncIterator[Engine]:
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}",
                                  dispatcher=DispatcherSettings(poll_interval_s=0.1, **dispatcher))
    transport = RecordingTransport()
    runtime = await build_runtime(settings, transport=transport)
    task = asyncio.create_task(runtime.run_dispatcher())
    try:
        made = await runtime.service.tenants.create(ADMIN, "acme")
        caller = await runtime.service.authenticate(made.api_key)
        yield Engine(runtime, transport, caller, made.tenant.id)
    finally:
        await runtime.dispatcher.stop()
        await task
        await runtime.close()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with running_engine(tmp_path) as running:
        yield running
