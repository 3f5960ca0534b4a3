"""A plain asyncio TCP server on 127.0.0.1 that keeps each HTTP request byte for byte (request line, headers and
body as they came off the wire) and answers from a script; every answer closes the connection."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class RawRequest:
    head: bytes  # request line and headers, up to and including the blank line
    body: bytes
    at: float

    @property
    def raw(self) -> bytes:
        return self.head + self.body

    @property
    def target(self) -> bytes:
        """The request target of the request line (`/path?query`), as sent."""
        return self.head.split(b"\r\n", 1)[0].split(b" ")[1]

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return None


@dataclass(slots=True)
class RawAnswer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: bytes = b'{"success":true}'


class RawServer:
    def __init__(self, *answers: RawAnswer) -> None:
        self.answers = list(answers) or [RawAnswer()]
        self.requests: list[RawRequest] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[RawRequest]:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.requests) >= count), timeout)
        return self.requests

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request = RawRequest(head, b"", time.time())
            length = int(request.header("content-length") or 0)
            request.body = await reader.readexactly(length) if length else b""
            answer = self.answers[min(len(self.requests), len(self.answers) - 1)]
            async with self._arrived:
                self.requests.append(request)
                self._arrived.notify_all()
            lines = [f"HTTP/1.1 {answer.status} X", f"Content-Length: {len(answer.body)}", "Connection: close",
                     *(f"{k}: {v}" for k, v in answer.headers.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + answer.body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
