"""A TCP forwarder to PostgreSQL that can be cut, as a network partition would, and restored on the same port."""

from __future__ import annotations

import asyncio
import contextlib


class Forwarder:
    def __init__(self, port: int) -> None:
        self.target_port = port
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> Forwarder:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def through(self, url: str) -> str:
        """A database URL on the local server (127.0.0.1:port) made to go through this forwarder."""
        forwarded = url.replace(f"127.0.0.1:{self.target_port}", f"127.0.0.1:{self.port}")
        assert forwarded != url, url
        return forwarded

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
        """Refuse new connections and break every open one."""
        assert self.server is not None
        self.server.close()
        for task in list(self.pipes):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.pipes, return_exceptions=True)

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        await self.start()
