"""Standard Webhooks v1 signatures (https://www.standardwebhooks.com/).

The signed content is ``f"{webhook-id}.{webhook-timestamp}."`` followed by the body bytes; the signature is
``v1,`` and the base64 HMAC-SHA256 of it, keyed with the base64-decoded part of a ``whsec_...`` secret.
During a secret rotation ``webhook-signature`` holds one signature per live secret, separated by spaces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from verihook.errors import UnusableSetting

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
DEFAULT_TOLERANCE_S = 300

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class InvalidSignature(Exception):
    """The webhook's signature headers are missing, stale or do not match the body."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode("ascii")


@lru_cache(maxsize=4096)
def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret, with or without the ``whsec_`` prefix; base64 padding is optional.

    Decoded as the reference SDK does it (``standardwebhooks``); cached, since every attempt signs.
    """
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "==")
    except (binascii.Error, ValueError) as exc:
        raise UnusableSetting("the signing secret is not valid base64") from exc
    if not key:
        raise UnusableSetting("the signing secret is empty")
    return key


_BLOCK = 64  # SHA-256's block size: HMAC's key is padded (or first hashed) to it
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))


@lru_cache(maxsize=4096)
def _keyed(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states that have taken HMAC's inner and outer padded key (RFC 2104): a MAC is then two copies and
    three updates, with no key schedule per delivery."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_INNER_PAD)), hashlib.sha256(key.translate(_OUTER_PAD))


def _mac(key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> bytes:
    # Copies of the keyed states, not `hmac.digest()`: that one-shot lets go of the GIL on every call, and the
    # dispatcher's event loop then waits for it behind the other threads (half a millisecond a delivery under load).
    # A hash update lets go of it only for 2 KiB or more, as the HMAC object's does.
    inner_keyed, outer_keyed = _keyed(key)
    inner = inner_keyed.copy()
    inner.update(f"{msg_id}.{timestamp}.".encode())
    inner.update(body)
    outer = outer_keyed.copy()
    outer.update(inner.digest())
    return outer.digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``f"{msg_id}.{timestamp}."`` + body."""
    return "v1," + binascii.b2a_base64(_mac(secret_key(secret), msg_id, timestamp, body), newline=False).decode()


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space separated."""
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    if len(secrets) == 1:
        return sign(secrets[0], msg_id, timestamp, body)
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def signing_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> list[tuple[str, str]]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``, in that order."""
    return [
        (HEADER_ID, msg_id),
        (HEADER_TIMESTAMP, str(timestamp)),
        (HEADER_SIGNATURE, signature_header(secrets, msg_id, timestamp, body)),
    ]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate
    return value


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Check a webhook's Standard Webhooks v1 signature; raises InvalidSignature saying what is wrong."""
    msg_id = _header(headers, HEADER_ID)
    timestamp = _header(headers, HEADER_TIMESTAMP)
    signatures = _header(headers, HEADER_SIGNATURE)
    if not (msg_id and timestamp and signatures):
        found = {HEADER_ID: msg_id, HEADER_TIMESTAMP: timestamp, HEADER_SIGNATURE: signatures}
        raise InvalidSignature(f"missing header(s): {', '.join(k for k, v in found.items() if not v)}")
    timestamp = timestamp.strip()
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 18):
        raise InvalidSignature(f"{HEADER_TIMESTAMP} is not an integer: {timestamp[:40]!r}")
    ts = int(timestamp)
    current = time.time() if now is None else now
    if ts < current - tolerance_s:
        raise InvalidSignature(f"timestamp too old ({int(current - ts)} s ago, tolerance {tolerance_s} s)")
    if ts > current + tolerance_s:
        raise InvalidSignature(f"timestamp too new ({int(ts - current)} s ahead, tolerance {tolerance_s} s)")
    expected = _mac(secret_key(secret), msg_id, ts, body)
    for versioned in signatures.split():
        version, _, encoded = versioned.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise InvalidSignature("no matching v1 signature")
