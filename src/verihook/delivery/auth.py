"""Outbound authentication: the Authorization header an endpoint's `auth` setting asks for.

    {"type": "none"}                                   -> nothing
    {"type": "basic", "token": T}                      -> Authorization: Basic T        (T sent verbatim)
    {"type": "basic", "username": U, "password": P}    -> Authorization: Basic base64(U:P)
    {"type": "bearer", "token": T}                     -> Authorization: Bearer T
    {"type": "oauth2", "token_url", "client_id", "client_secret", "scope"?}
                                                       -> Authorization: Bearer <access token>

OAuth2 client credentials, as Incode and vali-Das receivers expect it: POST token_url with `Content-Type:
application/x-www-form-urlencoded`, `Authorization: Basic base64(client_id:client_secret)` and the body
`grant_type=client_credentials[&scope=...]`; the JSON answer carries `access_token` and `expires_in`. A token
is cached per (token_url, client_id, client_secret, scope) until REFRESH_MARGIN_S (or a tenth of its lifetime,
when that is shorter) before it expires; concurrent callers share one in-flight token request, and its
failure. The dispatcher calls `invalidate` after a 401 and asks once more.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from verihook.delivery.transport import OutboundRequest, Transport
from verihook.redaction import url_redacted

if TYPE_CHECKING:
    from verihook.metrics import Metrics

TOKEN_TIMEOUT_S = 10.0
REFRESH_MARGIN_S = 30.0  # a token is renewed this long before it expires (or 10 % of its lifetime if shorter)
DEFAULT_EXPIRES_IN_S = 300.0  # when the token answer has no usable expires_in
_DETAIL_BODY_CHARS = 200

_TokenKey = tuple[str, str, str, str | None]


class AuthFailed(Exception):
    """No credentials could be produced (a bad auth setting, or a failed OAuth2 token request)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Token:
    access_token: str
    refresh_at: float  # clock time after which a new token is fetched


def basic_credentials(username: str, password: str) -> str:
    """base64("username:password"), UTF-8, as the Basic scheme wants it."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _field(auth: Mapping[str, Any], name: str) -> str:
    value = auth.get(name)
    if not isinstance(value, str) or not value:
        raise AuthFailed(f"{auth.get('type')} auth needs a non-empty {name!r}")
    return value


class Authenticator:
    def __init__(self, transport: Transport, *, clock: Callable[[], float] = time.time,
                 metrics: Metrics | None = None) -> None:
        self._transport = transport
        self._clock = clock
        self._metrics = metrics
        self._tokens: dict[_TokenKey, _Token] = {}
        self._inflight: dict[_TokenKey, asyncio.Future[_Token]] = {}

    async def headers(self, auth: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The headers to add to a request for this auth setting. Raises AuthFailed."""
        kind = auth.get("type", "none")
        if kind == "none":
            return []
        if kind == "basic":
            token = auth.get("token")
            if isinstance(token, str) and token:
                return [("Authorization", f"Basic {token}")]
            if "username" in auth:
                password = auth.get("password")
                password = password if isinstance(password, str) else ""
                return [("Authorization", f"Basic {basic_credentials(_field(auth, 'username'), password)}")]
            raise AuthFailed("basic auth needs a 'token', or a 'username' and 'password'")
        if kind == "bearer":
            return [("Authorization", f"Bearer {_field(auth, 'token')}")]
        if kind == "oauth2":
            return [("Authorization", f"Bearer {await self.oauth2_token(auth)}")]
        raise AuthFailed(f"unknown auth type {kind!r}")

    def invalidate(self, auth: Mapping[str, Any], *, token: str | None = None) -> None:
        """Drop the cached OAuth2 token of this setting (after a 401). With `token`, only if it is still the
        cached one: many deliveries that got a 401 for one token then cause a single new token request."""
        if auth.get("type") != "oauth2":
            return
        key = self._key(auth)
        cached = self._tokens.get(key)
        if cached is not None and (token is None or cached.access_token == token):
            del self._tokens[key]

    async def oauth2_token(self, auth: Mapping[str, Any]) -> str:
        """A valid access token for this oauth2 setting: the cached one, or a new one. Raises AuthFailed."""
        key = self._key(auth)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.access_token
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._fetch(key))
            self._inflight[key] = future
            future.add_done_callback(lambda f: self._fetch_done(key, f))
        token = await asyncio.shield(future)
        return token.access_token

    def _key(self, auth: Mapping[str, Any]) -> _TokenKey:
        scope = auth.get("scope")
        return (
            _field(auth, "token_url"),
            _field(auth, "client_id"),
            _field(auth, "client_secret"),
            scope if isinstance(scope, str) and scope else None,
        )

    def _fetch_done(self, key: _TokenKey, future: asyncio.Future[_Token]) -> None:
        self._inflight.pop(key, None)
        if future.cancelled():
            return
        failed = future.exception() is not None
        if self._metrics is not None:
            self._metrics.oauth_token_request("failed" if failed else "issued")
        if not failed:
            self._tokens[key] = future.result()

    async def _fetch(self, key: _TokenKey) -> _Token:
        token_url, client_id, client_secret, scope = key
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        asked_at = self._clock()
        outcome = await self._transport.send(
            OutboundRequest(
                url=token_url,
                headers=[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Accept", "application/json"),
                    ("Authorization", f"Basic {basic_credentials(client_id, client_secret)}"),
                ],
                body=urlencode(form).encode("ascii"),
                timeout_s=TOKEN_TIMEOUT_S,
            )
        )
        what = f"oauth2 token request to {url_redacted(token_url)}"
        if outcome.status_code is None:
            raise AuthFailed(f"{what} failed: {outcome.error_detail or outcome.error}")
        if not 200 <= outcome.status_code < 300:
            raise AuthFailed(f"{what} answered {outcome.status_code}{_excerpt(outcome.body)}")
        try:
            answer = json.loads(outcome.body)
        except (ValueError, UnicodeDecodeError):
            raise AuthFailed(f"{what} answered {outcome.status_code} without JSON{_excerpt(outcome.body)}") from None
        access_token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise AuthFailed(f"{what} answered {outcome.status_code} without an access_token")
        lifetime = _expires_in(answer.get("expires_in"))
        return _Token(access_token, asked_at + lifetime - min(REFRESH_MARGIN_S, lifetime / 10))


def _expires_in(value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return DEFAULT_EXPIRES_IN_S
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return DEFAULT_EXPIRES_IN_S


def _excerpt(body: bytes) -> str:
    if not body:
        return ""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    text = " ".join(text.split())[:_DETAIL_BODY_CHARS]
    return f": {text}" if text else ""
