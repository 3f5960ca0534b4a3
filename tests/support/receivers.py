"""A real HTTP receiver on 127.0.0.1 that records every request and answers from a script."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(slots=True)
class Received:
    method: str
    path_qs: str  # the raw path and query string, as sent
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)


@dataclass(slots=True)
class Answer:
    status: int = 200
    body: bytes = b'{"ok":true}'
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


async def start_site(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    """Serve `app` on 127.0.0.1 on a free port; returns the runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


class Receiver:
    """Answers each request with the next scripted Answer (the last one repeats), and records it."""

    def __init__(self, answers: list[Answer] | None = None) -> None:
        self.requests: list[Received] = []
        self.answers = list(answers or [Answer()])
        self.handler: Callable[[Received], Answer] | None = None
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.ssl_context: ssl.SSLContext | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def script(self, *answers: Answer) -> None:
        self.answers = list(answers)

    async def start(self) -> Receiver:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.port = await start_site(app, self.ssl_context)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(request.method, request.raw_path, {k.lower(): v for k, v in request.headers.items()},
                            await request.read(), time.time())
        if self.handler is not None:
            answer = self.handler(received)
        else:
            answer = self.answers[min(len(self.requests), len(self.answers) - 1)]
        async with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        headers = dict(answer.headers)
        if answer.content_type:
            headers["Content-Type"] = answer.content_type
        return web.Response(status=answer.status, body=answer.body if answer.status != 204 else None,
                            headers=headers)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.requests) >= count), timeout)
        return self.requests
