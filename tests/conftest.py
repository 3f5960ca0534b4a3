"""Fixtures: a real Verihook on a real port with a real SQLite file, real receivers, a real HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY, Running, running_verihook, settings_for_tests


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'verihook.db'}"


@pytest.fixture
async def verihook(database_url: str) -> AsyncIterator[Running]:
    async with running_verihook(settings_for_tests(database_url)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def admin(verihook: Running, http: aiohttp.ClientSession) -> Api:
    return Api(verihook.base_url, ADMIN_KEY, http)


@pytest.fixture
async def api(admin: Api) -> Api:
    """A client acting with a fresh tenant's own API key."""
    tenant = await admin.tenant("acme")
    return admin.as_key(tenant["api_key"])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = await Receiver().start()
    yield receiver
    await receiver.stop()
