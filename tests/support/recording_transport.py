"""An in-process transport, as httpx's MockTransport: every request is recorded and answered by a handler, so
delivery rules are tested without sockets. It implements the transport seam (delivery/transport.py) as the real
ones do; nothing of Verihook's own is replaced."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from verihook.delivery.transport import OutboundRequest, Outcome

Handler = Callable[[OutboundRequest], "Outcome | Awaitable[Outcome]"]


def answer(status: int = 200, body: bytes = b'{"ok":true}', content_type: str = "application/json",
           **headers: str) -> Outcome:
    return Outcome(status, {"content-type": content_type, **headers}, body, 1.0)


class RecordingTransport:
    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or (lambda _: answer())
        self.requests: list[OutboundRequest] = []
        self._arrived = asyncio.Condition()

    async def send(self, request: OutboundRequest) -> Outcome:
        async with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        result = self.handler(request)
        return await result if inspect.isawaitable(result) else result

    async def aclose(self) -> None:
        pass

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[OutboundRequest]:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.requests) >= count), timeout)
        return self.requests
