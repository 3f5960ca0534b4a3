"""Fixtures: a real Verihook on a real port with a real store, real receivers, a real HTTP client.

Every test that uses `database_url` (and so every test on `verihook`, `admin`, `api`) runs twice: on a fresh
SQLite file and on a fresh PostgreSQL database on the local server (tests/support/postgres.py). Select one half
with `-k sqlite` or `-k postgres`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.postgres import TestDatabases
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY, Running, running_verihook, settings_for_tests

STORES = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[TestDatabases]:
    databases = TestDatabases().start()
    yield databases
    databases.close()


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'verihook.db'}"
        return
    databases: TestDatabases = request.getfixturevalue("pg_databases")
    url = databases.create()
    yield url
    databases.drop(url)


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str | None:
    """The transport a test names in its parameters (`indirect`); without one, what Settings chooses."""
    kind: str | None = getattr(request, "param", None)
    return kind


@pytest.fixture
async def verihook(database_url: str, transport: str | None) -> AsyncIterator[Running]:
    settings = settings_for_tests(database_url)
    if transport is not None:
        settings = settings.with_(transport=transport)
    async with running_verihook(settings) as running:
        if transport is not None:
            assert type(running.runtime.transport).__name__.lower() == f"{transport}transport"
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
    return await admin.as_new_tenant("acme")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = await Receiver().start()
    yield receiver
    await receiver.stop()
