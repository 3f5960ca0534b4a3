"""Servers that seed systems' customers run: an HTTPS receiver and an OAuth2 token server (HTTP or HTTPS)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tests.support.receivers import Answer, Received, Receiver, start_site


class TlsReceiver(Receiver):
    """A Receiver on https://127.0.0.1 with a certificate from a test CA (tests/tlsutil.py)."""

    def __init__(self, context: ssl.SSLContext, answers: list[Answer] | None = None) -> None:
        super().__init__(answers)
        self.ssl_context = context


@dataclass(slots=True)
class TokenRequest:
    method: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class TokenServer:
    """Issues `token-1`, `token-2`, ... living `expires_in` seconds; `guard` answers 401 for any other bearer."""

    def __init__(self, expires_in: float = 3600, context: ssl.SSLContext | None = None) -> None:
        self.expires_in = expires_in
        self.requests: list[TokenRequest] = []
        self.expiry: dict[str, float] = {}
        self.port = 0
        self._context = context
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self._context else 'http'}://127.0.0.1:{self.port}/oauth/token"

    async def start(self) -> TokenServer:
        app = web.Application()
        app.router.add_route("*", "/oauth/token", self._token)
        self._runner, self.port = await start_site(app, self._context)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append(TokenRequest(request.method, {k.lower(): v for k, v in request.headers.items()},
                                          await request.read()))
        token = f"token-{len(self.requests)}"
        self.expiry[token] = time.time() + self.expires_in
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in})

    def valid(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        return authorization is not None and authorization.startswith("Bearer ") \
            and self.expiry.get(token, 0) > time.time()

    def guard(self, answer: Answer | None = None) -> Callable[[Received], Answer]:
        """A Receiver handler: 401 without a live token from this server, else `answer` (200 JSON)."""
        def handle(request: Received) -> Answer:
            if not self.valid(request.headers.get("authorization")):
                return Answer(401, b'{"error":"invalid_token"}')
            return answer or Answer()
        return handle
