"""A Python client generated from a running Verihook's /openapi.json by a standard generator
(openapi-python-client) creates an endpoint, publishes, lists and redelivers through its typed models, against a
real receiver. The dotted operation ids become its module names: `v1.event.create` is `api.events.v1_event_create`."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY, Running, running_verihook, settings_for_tests

PACKAGE = "verihook_client"  # what the generator names the package of an API titled "Verihook"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_verihook(settings_for_tests(f"sqlite:///{tmp_path / 'v.db'}")) as running:
        yield running


async def generate(base_url: str, where: Path) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/openapi.json") as reply:
        (where / "openapi.json").write_bytes(await reply.read())
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openapi_python_client", "generate", "--path", str(where / "openapi.json"),
        "--meta", "none", "--output-path", str(where / PACKAGE), "--overwrite",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(run.communicate(), 120)
    assert run.returncode == 0, output.decode(errors="replace")
    assert b"Warning" not in output, output.decode(errors="replace")  # every schema understood


@pytest.fixture
def client_package(tmp_path: Path) -> Iterator[Path]:
    """Where the generated package goes; imported from there and forgotten afterwards."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def load(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


@pytest.mark.timeout(180)
async def test_a_generated_client_publishes_lists_and_redelivers(served: Running, receiver: Receiver,
                                                                 client_package: Path) -> None:
    await generate(served.base_url, client_package)
    client_module, models = load("client"), load("models")
    create_tenant = load("api.tenants.v1_tenant_create")
    create_endpoint = load("api.endpoints.v1_endpoint_create")
    publish = load("api.events.v1_event_create")
    list_events = load("api.events.v1_event_list")
    get_event = load("api.events.v1_event_get")
    redeliver = load("api.events.v1_event_redeliver")

    async with client_module.AuthenticatedClient(base_url=served.base_url, token=ADMIN_KEY) as admin:
        tenant = await create_tenant.asyncio(client=admin, body=models.TenantCreate(name="generated"))
    assert isinstance(tenant, models.NewTenantOut), tenant
    assert isinstance(tenant.created_at, datetime)

    async with client_module.AuthenticatedClient(base_url=served.base_url, token=tenant.api_key) as client:
        endpoint = await create_endpoint.asyncio(client=client, body=models.EndpointCreate(url=receiver.url))
        assert isinstance(endpoint, models.EndpointOut), endpoint
        assert isinstance(endpoint.auth, models.AuthNoneOut) and isinstance(endpoint.retry, models.RetryScheduleOut)
        assert endpoint.tenant_id == tenant.id and endpoint.signing_secret.startswith("whsec_")

        data = models.EventCreateData.from_dict({"order_id": "o-1", "total": 12.5})
        published = await publish.asyncio(client=client, body=models.EventCreate(type_="order.created", data=data))
        assert isinstance(published, models.PublishedOut), published
        assert published.duplicate is False and [d.endpoint_id for d in published.deliveries] == [endpoint.id]
        [first] = await receiver.wait_for(1)
        assert first.json()["data"] == {"order_id": "o-1", "total": 12.5}

        async def listed_as_sent() -> Any:
            page = await list_events.asyncio(client=client, delivery_status="succeeded")
            assert isinstance(page, models.EventPage), page
            return page if [e.id for e in page.data] == [published.id] else None

        page = await wait_until(listed_as_sent)
        assert page.next_cursor is None and page.data[0].delivery_status == models.DeliveryStatus.SUCCEEDED

        redelivered = await redeliver.asyncio(published.id, client=client)
        assert isinstance(redelivered, models.RedeliveredOut), redelivered
        assert redelivered.requeued == 1
        second = (await receiver.wait_for(2))[1]
        assert second.headers["webhook-id"] == first.headers["webhook-id"] == published.id

        async def attempted_twice() -> Any:
            detail = await get_event.asyncio(published.id, client=client)
            assert isinstance(detail, models.EventDetailOut), detail
            [delivery] = detail.deliveries
            return detail if len(delivery.attempts) == 2 else None

        detail = await wait_until(attempted_twice)
        assert [a.status_code for a in detail.deliveries[0].attempts] == [200, 200]
        assert detail.delivery_status == models.DeliveryStatus.SUCCEEDED
