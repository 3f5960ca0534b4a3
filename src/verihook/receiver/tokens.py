"""The receiving side of webhook authentication: an OAuth2 client-credentials token endpoint, and static tokens.

Incode and vali-Das protect their customers' webhook URLs with OAuth2 client credentials (RFC 6749, 4.4): the
sender POSTs `grant_type=client_credentials` (form-encoded) to the receiver's token URL with
`Authorization: Basic base64(client_id:client_secret)`, gets `{"access_token", "token_type", "expires_in"}`, and
sends each notification with `Authorization: Bearer <access_token>`. `ClientCredentials` is that token URL:

    issuer = ClientCredentials("incode", os.environ["CLIENT_SECRET"])
    answer = issuer.issue(request_headers.get("Authorization"), raw_form_body)   # TokenAnswer(status, body, headers)
    issuer.bearer_valid(request_headers.get("Authorization"))                    # on every notification

Attestr sends a static token as `Authorization: Basic <token>`: `basic_token_matches(authorization, token)`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus

DEFAULT_LIFETIME_S = 3600
GRANT_TYPE = "client_credentials"
MAX_FORM_BYTES = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """What the token endpoint answers: an HTTP status, a JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, error: str, description: str, **headers: str) -> TokenAnswer:
    return TokenAnswer(status, {"error": error, "error_description": description}, {**_NO_STORE, **headers})


def _basic_client(authorization: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Basic base64(id:secret)`; RFC 6749 2.3.1 form-encodes both first."""
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, client_secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(client_secret)) if colon else None


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def basic_token_matches(authorization: str | None, token: str) -> bool:
    """True if the header is exactly `Basic <token>` (Attestr's static token), compared in constant time."""
    return authorization is not None and _equal(authorization.strip(), f"Basic {token}")


class ClientCredentials:
    """A token endpoint for one client: issues bearer tokens and checks them. Thread-safe, in memory."""

    def __init__(self, client_id: str, client_secret: str, *, lifetime_s: int = DEFAULT_LIFETIME_S,
                 scopes: Collection[str] | None = None, clock: Callable[[], float] = time.time) -> None:
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret must not be empty")
        self.client_id = client_id
        self._client_secret = client_secret
        self.lifetime_s = lifetime_s
        self._scopes = frozenset(scopes) if scopes is not None else None  # None: any scope is granted
        self._clock = clock
        self._tokens: dict[str, float] = {}  # access token -> when it expires
        self._lock = threading.Lock()

    def issue(self, authorization: str | None, form_body: bytes) -> TokenAnswer:
        """Answer one token request: its Authorization header and its form-encoded body."""
        if len(form_body) > MAX_FORM_BYTES:
            return _error(400, "invalid_request", "the form body is too large")
        try:
            parsed = parse_qs(form_body.decode("ascii"), keep_blank_values=True)
            form = {name: values[0] for name, values in parsed.items()}
        except (UnicodeDecodeError, ValueError):
            return _error(400, "invalid_request", "the body is not a form (application/x-www-form-urlencoded)")
        client = _basic_client(authorization)
        if client is None and "client_id" in form:  # client_secret_post, RFC 6749 2.3.1
            client = (form["client_id"], form.get("client_secret", ""))
        if client is None or not (_equal(client[0], self.client_id) and _equal(client[1], self._client_secret)):
            return _error(401, "invalid_client", "unknown client or wrong secret",
                          **{"WWW-Authenticate": 'Basic realm="token"'})
        grant_type = form.get("grant_type")
        if not grant_type:
            return _error(400, "invalid_request", "grant_type is missing")
        if grant_type != GRANT_TYPE:
            return _error(400, "unsupported_grant_type", f"only {GRANT_TYPE} is supported")
        scope = form.get("scope")
        if scope and self._scopes is not None and not set(scope.split()) <= self._scopes:
            return _error(400, "invalid_scope", f"the scope may hold only: {' '.join(sorted(self._scopes))}")
        access_token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._tokens = {token: expiry for token, expiry in self._tokens.items() if expiry > now}
            self._tokens[access_token] = now + self.lifetime_s
        body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": self.lifetime_s}
        if scope:
            body["scope"] = scope
        return TokenAnswer(200, body, dict(_NO_STORE))

    def bearer_valid(self, authorization: str | None) -> bool:
        """True if the header is `Bearer <a token this endpoint issued and that has not expired>`."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            expiry = self._tokens.get(token.strip())
        return expiry is not None and expiry > self._clock()

    def revoke_all(self) -> None:
        """Forget every issued token: the sender's next notification gets a 401 and fetches a new one."""
        with self._lock:
            self._tokens.clear()
