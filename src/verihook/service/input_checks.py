"""Checks of an endpoint's settings that keep secrets and headers safe on the wire; pure, no I/O.

Called by service/endpoints.py when an endpoint is created or changed and when its signing secret is rotated:

- a signing secret is `whsec_` and the standard base64 of a 24-64 byte key (Standard Webhooks: "at least 24 bytes,
  512 bits at most"), so that every attempt can sign with it;
- a credential (token, username, password, client id and secret, scope) holds no control character: a CR or LF
  would not fit in a header, and the HTTP client's refusal would carry the credential into an attempt's error;
- a static header is a visible-ASCII single line, and not one that changes how the message is framed, encoded or
  routed (hop-by-hop headers, Content-Encoding, Host, ...);
- an OAuth2 token URL passes the same target guard as the endpoint's URL (a metadata or loopback address is
  refused), and uses HTTPS where the tenant or the profile requires it: the client secret goes to it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from verihook.delivery.guard import NOTHING_ALLOWED, AllowedTargets, check_url
from verihook.delivery.signing import SECRET_PREFIX
from verihook.errors import InvalidInput

SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
MAX_HEADERS = 50
MAX_HEADER_VALUE = 4096

_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]*$")
_CREDENTIALS = ("token", "username", "password", "client_id", "client_secret", "scope")
_ASCII_ONLY = ("token", "client_id", "client_secret", "scope")  # sent in a header or a form as they are
# headers a receiver or a proxy reads to frame, decode or route the message; Verihook sets those it needs
FORBIDDEN_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    "proxy-authorization", "proxy-authenticate", "content-encoding", "content-length", "content-type", "host",
    "expect", "http2-settings", "authorization", "cookie2",
})


def check_signing_secret(secret: str, field: str = "secret") -> None:
    """Refuse a secret every attempt could not sign with; the secret itself is never repeated."""
    body = secret.removeprefix(SECRET_PREFIX)
    if body == secret:
        raise InvalidInput(f"{field}: a signing secret starts with {SECRET_PREFIX}", field=field)
    key = b""
    if _BASE64.match(body) and len(body) % 4 == 0:
        try:
            key = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            key = b""
    if not key:
        raise InvalidInput(f"{field}: after {SECRET_PREFIX} a signing secret is standard base64 (with its = "
                           "padding) of a random key", field=field)
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise InvalidInput(f"{field}: the key is {len(key)} bytes; a signing secret holds {SECRET_MIN_BYTES} to "
                           f"{SECRET_MAX_BYTES} bytes", field=field)


def check_endpoint_fields(fields: Mapping[str, Any], *, require_https: bool, allow_private_targets: bool,
                          allowed: AllowedTargets = NOTHING_ALLOWED) -> None:
    """The checks above for the fields of a create or a change; raises InvalidInput naming the field."""
    if isinstance(fields.get("headers"), Mapping):
        _check_headers(fields["headers"])
    auth = fields.get("auth")
    if isinstance(auth, Mapping):
        _check_credentials(auth)
        token_url = auth.get("token_url")
        if isinstance(token_url, str):
            _check_token_url(token_url, require_https=require_https, allow_private_targets=allow_private_targets,
                             allowed=allowed)


def _check_headers(headers: Mapping[str, Any]) -> None:
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(f"headers: at most {MAX_HEADERS} headers", field="headers")
    for name, value in headers.items():
        field = f"headers.{name}"
        if name.lower() in FORBIDDEN_HEADERS:
            raise InvalidInput(f"header {name!r} is set by Verihook or frames, encodes or routes the request: it "
                               "cannot be a static header", field=field)
        if not isinstance(value, str):
            continue  # the caller's type check names it
        if len(value) > MAX_HEADER_VALUE or not _HEADER_VALUE.match(value):
            raise InvalidInput(f"header {name!r} must be one line of visible ASCII (space and tab allowed), at most "
                               f"{MAX_HEADER_VALUE} characters; no control characters", field=field)


def _check_credentials(auth: Mapping[str, Any]) -> None:
    for name in _CREDENTIALS:
        value = auth.get(name)
        if not isinstance(value, str):
            continue
        field = f"auth.{name}"
        if _CONTROL.search(value):
            raise InvalidInput(f"{field} holds a control character (a line break, a tab, ...): a credential is "
                               "one line", field=field)
        if name in _ASCII_ONLY and not value.isascii():
            raise InvalidInput(f"{field} must be ASCII", field=field)
        if name == "username" and ":" in value:
            raise InvalidInput("auth.username cannot hold ':' (Basic authentication splits on it)", field=field)


def _check_token_url(url: str, *, require_https: bool, allow_private_targets: bool, allowed: AllowedTargets) -> None:
    field = "auth.token_url"
    try:
        check_url(url, allow_private_targets=allow_private_targets, require_https=require_https, allowed=allowed)
    except InvalidInput as error:
        detail = error.detail.removeprefix("url")
        raise InvalidInput(f"auth.token_url{detail}" if detail != error.detail else f"auth.token_url: {detail}",
                           field=field) from None
