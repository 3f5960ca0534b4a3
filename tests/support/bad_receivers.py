"""Receivers that misbehave as overloaded or careless customer servers do, on raw sockets on 127.0.0.1
(tests/support/raw_server.py records each request as it came off the wire).

- `Hanging`: reads each request and never answers.
- `Trickling`: answers a status line and headers at once, then its body one byte a second.
- `Resetting`: reads each request and resets the connection (SO_LINGER 0: an RST, no answer).
- `HugeAnswer`: answers a 200 MB body as fast as the sender reads it, and counts what it could send.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time

from tests.support.raw_server import RawRequest, RawServer


class _Misbehaving(RawServer):
    """A RawServer whose connections stay open until the sender gives up or the server stops."""

    def __init__(self) -> None:
        super().__init__()
        self._writers: set[asyncio.StreamWriter] = set()

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        await super().stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request = RawRequest(head, b"", time.time())
            request.body = await reader.readexactly(int(request.header("content-length") or 0))
            async with self._arrived:
                self.requests.append(request)
                self._arrived.notify_all()
            await self._misbehave(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def _misbehave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class Hanging(_Misbehaving):
    async def _misbehave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the sender gives up and closes


class Trickling(_Misbehaving):
    def __init__(self, every_s: float = 1.0, length: int = 600) -> None:
        super().__init__()
        self.every_s = every_s
        self.length = length

    async def _misbehave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % self.length)
        for _ in range(self.length):
            await writer.drain()
            await asyncio.sleep(self.every_s)
            writer.write(b" ")


class Resetting(_Misbehaving):
    async def _misbehave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # closed with linger 0: the kernel sends an RST


class HugeAnswer(_Misbehaving):
    """Answers `status` with a `length`-byte body, written 1 MB at a time as fast as the peer takes it.
    `sent` counts the bytes of all answers the peer's socket accepted (what the sender did not refuse)."""

    CHUNK = b"x" * (1 << 20)

    def __init__(self, status: int = 200, length: int = 200 * 1024 * 1024) -> None:
        super().__init__()
        self.status = status
        self.length = length
        self.sent = 0
        self.finished = 0  # answers written to the end

    async def _misbehave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                     % (self.status, self.length))
        left = self.length
        while left > 0:
            chunk = self.CHUNK[:left]
            writer.write(chunk)
            await writer.drain()
            self.sent += len(chunk)
            left -= len(chunk)
        self.finished += 1
        await reader.read()  # the sender may keep the connection: wait for it to close
