"""`verihook worker` as a real child process: a dispatcher that serves only /healthz, /readyz and /metrics (every
tenant route, and the OpenAPI schema, answer a 404 problem), and delivers what an API process publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY, ServeProcess, running_verihook, settings_for_tests

NOT_SERVED = [("GET", "/v1/tenants"), ("POST", "/v1/tenants"), ("GET", "/v1/endpoints"), ("POST", "/v1/events"),
              ("GET", "/v1/events/evt_x"), ("GET", "/v1/event-types"), ("PATCH", "/v1/subjects/sub_x"),
              ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/"), ("GET", "/ui/"),
              ("GET", "/ui/login"), ("POST", "/ui/login")]


@pytest.fixture
def worker(database_url: str, tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(database_url, tmp_path, role="worker")
    yield process
    process.stop()


async def test_a_worker_serves_health_readiness_and_metrics_only(
        worker: ServeProcess, http: aiohttp.ClientSession) -> None:
    await worker.start()
    await pg.wait_ready(worker.base_url)
    async with http.get(worker.base_url + "/healthz") as response:
        assert response.status == 200 and await response.json() == {"status": "ok"}
    async with http.get(worker.base_url + "/metrics") as response:
        assert response.status == 200 and "verihook_pending_deliveries" in await response.text()

    admin = Api(worker.base_url, ADMIN_KEY, http)
    for method, path in NOT_SERVED:
        reply = await admin.call(method, path, json={} if method != "GET" else None)
        assert reply.status == 404, (method, path, reply.body)
        assert reply.content_type.startswith("application/problem+json"), (method, path)
        assert reply.body["detail"] == "no such route", (method, path)


async def test_a_worker_delivers_what_an_api_process_publishes(
        worker: ServeProcess, database_url: str, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    async with running_verihook(settings_for_tests(database_url), run_dispatcher=False) as api_only:
        admin = Api(api_only.base_url, ADMIN_KEY, http)
        api = await admin.as_new_tenant("split")
        await api.endpoint(receiver.url)
        await worker.start()
        await pg.wait_ready(worker.base_url)
        event = await api.publish("order.created", {"order": "o-1"})

        [request] = await receiver.wait_for(1, timeout=10)
        assert request.headers["webhook-id"] == event["id"]
        assert (await api.wait_event(event["id"]))["deliveries"][0]["attempt_count"] == 1
