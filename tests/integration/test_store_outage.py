"""When the database cannot be reached, the API says so with 503 and Retry-After, never a bare 500."""

from __future__ import annotations

import aiohttp

from tests.support.api import Api
from tests.support.forwarder import Forwarder
from tests.support.postgres import TestDatabases
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests


async def test_a_database_that_goes_away_answers_503_with_retry_after(
        pg_databases: TestDatabases, http: aiohttp.ClientSession) -> None:
    url = pg_databases.create()
    forwarder = await Forwarder(5432).start()
    try:
        through = url.replace("127.0.0.1:5432", f"127.0.0.1:{forwarder.port}")
        assert through != url
        async with running_verihook(settings_for_tests(through)) as running:
            admin = Api(running.base_url, ADMIN_KEY, http)
            (await admin.post("/v1/tenants", {"name": "before"})).ok()
            await forwarder.cut()

            reply = await admin.post("/v1/tenants", {"name": "during"})

            assert reply.status == 503, reply.body
            assert reply.content_type == "application/problem+json"
            assert "database" in reply.body["detail"]
            async with http.get(running.base_url + "/readyz") as ready:
                assert ready.status == 503
    finally:
        pg_databases.drop(url)
