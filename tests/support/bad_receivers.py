"""Receivers that misbehave as overloaded or careless customer servers do, on raw sockets on 127.0.0.1.

- `Hanging`: accepts every connection, reads what is sent, never answers.
- `Trickling`: answers a status line and headers at once, then its body one byte a second.
"""

from __future__ import annotations

import asyncio
import contextlib


class RawReceiver:
    """A TCP server on 127.0.0.1 whose connection handler is `_serve`; it counts the requests it has read."""

    def __init__(self) -> None:
        self.requests = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RawReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _read_request(self, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        self.requests += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class Hanging(RawReceiver):
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._read_request(reader)
        await reader.read()  # until the sender gives up and closes


class Trickling(RawReceiver):
    def __init__(self, every_s: float = 1.0, length: int = 600) -> None:
        super().__init__()
        self.every_s = every_s
        self.length = length

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % self.length)
        for _ in range(self.length):
            await writer.drain()
            await asyncio.sleep(self.every_s)
            writer.write(b" ")
