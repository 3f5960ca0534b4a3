"""Outbound authentication against a real OAuth2 token server on 127.0.0.1, through both transports."""

from __future__ import annotations

import asyncio
import base64
import socket
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from verihook.crypto import generate_token
from verihook.delivery.auth import Authenticator, AuthFailed
from verihook.delivery.transport import AiohttpTransport, PyreqwestTransport, Transport


@dataclass
class TokenRequest:
    method: str
    content_type: str | None
    authorization: str | None
    body: bytes


@dataclass
class TokenServer:
    port: int = 0
    requests: list[TokenRequest] = field(default_factory=list)
    status: int = 200
    expires_in: Any = 3600
    raw_answer: bytes | None = None  # answered instead of the JSON token when set
    omit_token: bool = False
    delay_s: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth/token"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            TokenRequest(
                request.method,
                request.headers.get("Content-Type"),
                request.headers.get("Authorization"),
                await request.read(),
            )
        )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.raw_answer is not None:
            return web.Response(status=self.status, body=self.raw_answer, content_type="application/json")
        if self.status != 200:
            return web.json_response({"error": "invalid_client"}, status=self.status)
        answer: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.expires_in}
        if not self.omit_token:
            answer["access_token"] = f"tok-{len(self.requests)}"
        if self.expires_in is None:
            del answer["expires_in"]
        return web.json_response(answer)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[TokenServer]:
    server = TokenServer()
    app = web.Application()
    app.router.add_route("*", "/oauth/token", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()


@pytest.fixture(params=["pyreqwest", "aiohttp"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    kind = PyreqwestTransport if request.param == "pyreqwest" else AiohttpTransport
    transport: Transport = kind(allow_private_targets=True)
    yield transport
    await transport.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(transport: Transport, clock: Clock) -> Authenticator:
    return Authenticator(transport, clock=clock)


def oauth2(server: TokenServer, **extra: str) -> dict[str, str]:
    return {
        "type": "oauth2",
        "token_url": server.url,
        "client_id": "client-1",
        "client_secret": "s3cret:with/odd&chars",
        **extra,
    }


async def test_token_request_format(auth: Authenticator, server: TokenServer) -> None:
    headers = await auth.headers(oauth2(server, scope="webhooks read"))
    assert headers == [("Authorization", "Bearer tok-1")]
    [request] = server.requests
    assert request.method == "POST"
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.authorization is not None and request.authorization.startswith("Basic ")
    decoded = base64.b64decode(request.authorization.removeprefix("Basic ")).decode()
    assert decoded == "client-1:s3cret:with/odd&chars"
    assert request.body == b"grant_type=client_credentials&scope=webhooks+read"
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["webhooks read"],
    }


async def test_token_request_without_scope(auth: Authenticator, server: TokenServer) -> None:
    await auth.headers(oauth2(server))
    assert server.requests[0].body == b"grant_type=client_credentials"


async def test_token_reused_until_30_s_before_expiry(auth: Authenticator, server: TokenServer, clock: Clock) -> None:
    setting = oauth2(server)
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-1")]
    clock.now += 3600 - 30 - 1
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-1")]
    assert len(server.requests) == 1
    clock.now += 2
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-2")]
    assert len(server.requests) == 2


async def test_short_lived_token_renewed_at_90_percent(auth: Authenticator, server: TokenServer, clock: Clock) -> None:
    server.expires_in = 100  # 10 % of it (10 s) is shorter than 30 s
    setting = oauth2(server)
    await auth.headers(setting)
    clock.now += 89
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-1")]
    clock.now += 2
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-2")]


@pytest.mark.parametrize(("expires_in", "reused_at", "renewed_at"), [("120", 107, 109), (None, 269, 271)])
async def test_expires_in_as_text_or_missing(
    auth: Authenticator,
    server: TokenServer,
    clock: Clock,
    expires_in: Any,
    reused_at: float,
    renewed_at: float,
) -> None:
    server.expires_in = expires_in  # missing: 300 s assumed
    setting = oauth2(server)
    start = clock.now
    await auth.headers(setting)
    clock.now = start + reused_at
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-1")]
    clock.now = start + renewed_at
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-2")]


async def test_invalidate_forces_a_refetch(auth: Authenticator, server: TokenServer) -> None:
    setting = oauth2(server)
    await auth.headers(setting)
    auth.invalidate(setting)
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-2")]
    auth.invalidate(setting, token="tok-1")  # a late 401 for the old token keeps the new one
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-2")]
    auth.invalidate(setting, token="tok-2")
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-3")]
    assert len(server.requests) == 3
    auth.invalidate({"type": "bearer", "token": "x"})  # nothing to drop: no error


async def test_concurrent_callers_share_one_token_request(auth: Authenticator, server: TokenServer) -> None:
    server.delay_s = 0.2
    setting = oauth2(server)
    answers = await asyncio.gather(*(auth.headers(dict(setting)) for _ in range(10)))
    assert answers == [[("Authorization", "Bearer tok-1")]] * 10
    assert len(server.requests) == 1


async def test_tokens_are_cached_per_client_and_scope(auth: Authenticator, server: TokenServer) -> None:
    await auth.headers(oauth2(server, scope="a"))
    await auth.headers(oauth2(server, scope="b"))
    await auth.headers({**oauth2(server, scope="a"), "client_id": "client-2"})
    await auth.headers(oauth2(server, scope="a"))
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "raw", "omit_token", "expected"),
    [
        (400, None, False, 'answered 400: {"error": "invalid_client"}'),
        (401, None, False, "answered 401"),
        (500, b"<html>oops</html>", False, "answered 500: <html>oops</html>"),
        (200, b"not json", False, "answered 200 without JSON: not json"),
        (200, b"[1, 2]", False, "answered 200 without an access_token"),
        (200, None, True, "answered 200 without an access_token"),
    ],
)
async def test_failed_token_request_raises_auth_failed(
    auth: Authenticator, server: TokenServer, status: int, raw: bytes | None, omit_token: bool, expected: str
) -> None:
    server.status, server.raw_answer, server.omit_token = status, raw, omit_token
    with pytest.raises(AuthFailed) as info:
        await auth.headers(oauth2(server))
    assert info.value.detail.startswith(f"oauth2 token request to {server.url} ")
    assert expected in info.value.detail
    assert "s3cret" not in info.value.detail


async def test_unreachable_token_server(auth: Authenticator) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/token"
    with pytest.raises(AuthFailed) as info:
        await auth.headers({"type": "oauth2", "token_url": url, "client_id": "c", "client_secret": "s"})
    assert info.value.detail.startswith(f"oauth2 token request to {url} failed: ")


async def test_token_server_refused_by_the_guard(server: TokenServer) -> None:
    transport = PyreqwestTransport(allow_private_targets=False)
    try:
        with pytest.raises(AuthFailed, match=r"target refused by policy: 127\.0\.0\.1"):
            await Authenticator(transport).headers(oauth2(server))
    finally:
        await transport.aclose()
    assert server.requests == []


async def test_a_failure_is_shared_then_retried(auth: Authenticator, server: TokenServer) -> None:
    server.status, server.delay_s = 503, 0.2
    setting = oauth2(server)
    results = await asyncio.gather(*(auth.headers(setting) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, AuthFailed) for result in results)
    assert len(server.requests) == 1
    server.status, server.delay_s = 200, 0.0
    assert await auth.headers(setting) == [("Authorization", "Bearer tok-2")]


async def test_static_schemes(auth: Authenticator) -> None:
    assert await auth.headers({"type": "none"}) == []
    assert await auth.headers({}) == []
    assert await auth.headers({"type": "basic", "token": "dXNlcjpwYXNz=="}) == [
        ("Authorization", "Basic dXNlcjpwYXNz==")  # sent verbatim, not encoded again
    ]
    assert await auth.headers({"type": "basic", "username": "ana", "password": "pä:ss"}) == [
        ("Authorization", "Basic " + base64.b64encode("ana:pä:ss".encode()).decode())
    ]
    assert await auth.headers({"type": "bearer", "token": "abc.def"}) == [("Authorization", "Bearer abc.def")]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"type": "basic"}, "basic auth needs"),
        ({"type": "bearer"}, "bearer auth needs a non-empty 'token'"),
        ({"type": "bearer", "token": ""}, "bearer auth needs a non-empty 'token'"),
        ({"type": "oauth2", "token_url": "http://x/", "client_id": "c"}, "'client_secret'"),
        ({"type": "hmac"}, "unknown auth type 'hmac'"),
    ],
)
async def test_bad_settings_raise_auth_failed(auth: Authenticator, setting: dict[str, str], expected: str) -> None:
    with pytest.raises(AuthFailed, match=expected):
        await auth.headers(setting)


def test_generate_token() -> None:
    tokens = {generate_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert len(token) == 43  # 32 bytes, base64url without padding
        assert set(token) <= set(string.ascii_letters + string.digits + "-_")
