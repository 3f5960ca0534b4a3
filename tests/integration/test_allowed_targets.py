"""VERIHOOK_ALLOWED_TARGETS: with private targets refused, a platform lets its internal receiver through by CIDR or
host name; everything else is still refused, at creation for literals and on the address connected to for names."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY, TRANSPORT_CASES, running_verihook, settings_for_tests
from verihook.config import Settings
from verihook.delivery.guard import allowed_targets

REFUSED_ERROR = "target refused by policy"
ONE_RETRY = {"strategy": "schedule", "delays_s": [0.1]}

Guarded = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def guarded(database_url: str, transport: str | None, http: aiohttp.ClientSession) -> Guarded:
    """A tenant's client on a Verihook that refuses private targets but those `allowed`."""

    @contextlib.asynccontextmanager
    async def start(*allowed: str) -> AsyncIterator[Api]:
        settings = settings_for_tests(database_url, allow_private_targets=False, allowed_targets=allowed)
        if transport is not None:
            settings = settings.with_(transport=transport)
        async with running_verihook(settings) as running:
            yield await Api(running.base_url, ADMIN_KEY, http).as_new_tenant("internal")

    return start


def assert_refused(reply: Any, field: str = "url") -> None:
    assert reply.status == 422, reply.body
    assert reply.body["field"] == field and REFUSED_ERROR in reply.body["detail"], reply.body


@pytest.mark.parametrize(("database_url", "transport"), TRANSPORT_CASES, indirect=True)
async def test_an_allowed_network_is_delivered_to_and_nothing_else_is(guarded: Guarded, receiver: Receiver) -> None:
    async with guarded("127.0.0.1/32", "10.20.0.0/16") as api:
        endpoint = await api.endpoint(f"{receiver.url}/hook")
        event = await api.publish("order.created", {"n": 1})
        done = await api.wait_event(event["id"])
        assert done["deliveries"][0]["attempts"][0]["status_code"] == 200
        assert [r.path_qs for r in await receiver.wait_for(1)] == ["/hook"]

        for url in (f"http://127.0.0.2:{receiver.port}/", "http://10.21.0.1/", "http://169.254.169.254/",
                    "http://[::1]/", "http://0x7f.2/"):
            assert_refused(await api.post("/v1/endpoints", {"url": url}))
            assert_refused(await api.patch(f"/v1/endpoints/{endpoint['id']}", {"url": url}))
        assert_refused(await api.post("/v1/subjects", {"kind": "process", "webhook_url": "http://127.0.0.2/"}),
                       field="webhook_url")
        (await api.post("/v1/endpoints", {"url": "http://10.20.3.4/hook"})).ok()  # inside the allowed network


@pytest.mark.parametrize(("database_url", "transport"), TRANSPORT_CASES, indirect=True)
async def test_a_name_is_checked_on_the_address_it_connects_to(guarded: Guarded, receiver: Receiver) -> None:
    """`localhost` is accepted (a name is not resolved at creation) but resolves to 127.0.0.1, which the
    allow-list does not hold: refused when connecting, never sent."""
    async with guarded("127.0.0.2/32") as api:
        await api.endpoint(f"http://localhost:{receiver.port}/hook", retry=ONE_RETRY)
        event = await api.publish()
        done = await api.wait_event(event["id"], status="failed")
        assert {a["error"] for a in done["deliveries"][0]["attempts"]} == {REFUSED_ERROR}
        assert receiver.requests == []


@pytest.mark.parametrize(("database_url", "transport"), TRANSPORT_CASES, indirect=True)
async def test_an_allowed_host_name_passes_whatever_private_address_it_resolves_to(
        guarded: Guarded, receiver: Receiver) -> None:
    async with guarded("localhost") as api:
        await api.endpoint(f"http://localhost:{receiver.port}/hook")
        event = await api.publish()
        await api.wait_event(event["id"])
        assert len(await receiver.wait_for(1)) == 1
        # the name is allowed, not the addresses it stands for
        assert_refused(await api.post("/v1/endpoints", {"url": f"http://127.0.0.1:{receiver.port}/"}))


def test_a_bad_entry_stops_the_start_naming_it() -> None:
    settings = Settings.from_env({"VERIHOOK_ALLOWED_TARGETS": "10.0.0.0/8, receiver.internal http://x.example"})
    assert settings.allowed_targets == ("10.0.0.0/8", "receiver.internal", "http://x.example")
    with pytest.raises(ValueError, match=re.escape("VERIHOOK_ALLOWED_TARGETS: 'http://x.example'")):
        allowed_targets(settings.allowed_targets)
