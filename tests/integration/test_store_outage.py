"""When the database cannot be reached, the API says so with 503 and Retry-After, never a bare 500."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from tests.support.api import Api
from tests.support.postgres import TestDatabases
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests


class Forwarder:
    """A TCP forwarder to PostgreSQL that can be cut, as a network partition would."""

    def __init__(self, port: int) -> None:
        self.target_port = port
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> Forwarder:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.pipes):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.pipes, return_exceptions=True)


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
