"""Signed, expiring tokens (session cookies, portal links): a JSON payload and an HMAC-SHA256 over it. Pure.

A token is `<base64url payload>.<base64url signature>`; the signature covers a purpose as well, so a token made
for one use (a portal link) is never accepted for another (a session).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson


class BadToken(ValueError):
    pass


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, body: str) -> bytes:
    return hmac.new(key, f"{purpose}\n{body}".encode(), hashlib.sha256).digest()


def sign(key: bytes, purpose: str, payload: dict[str, Any]) -> str:
    body = _b64(orjson.dumps(payload))
    return f"{body}.{_b64(_mac(key, purpose, body))}"


def verify(key: bytes, purpose: str, token: str, now: float) -> dict[str, Any]:
    """The payload of a token signed with `key` for `purpose` whose `exp` is still ahead; raises BadToken."""
    body, dot, signature = token.partition(".")
    if not dot or len(token) > 4096:
        raise BadToken("malformed token")
    try:
        given = _unb64(signature)
    except ValueError as error:
        raise BadToken("malformed token") from error
    if not hmac.compare_digest(given, _mac(key, purpose, body)):
        raise BadToken("bad signature")
    try:
        payload = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError) as error:
        raise BadToken("malformed token") from error
    expires = payload.get("exp") if isinstance(payload, dict) else None
    if not isinstance(expires, int | float):
        raise BadToken("malformed token")
    if expires <= now:
        raise BadToken("expired")
    return payload
