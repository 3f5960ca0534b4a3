"""A verified webhook: its Standard Webhooks id, timestamp and raw body, checked against the signing secret."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from verihook.delivery.signing import (
    DEFAULT_TOLERANCE_S,
    HEADER_ID,
    HEADER_TIMESTAMP,
    InvalidSignature,
    verify,
)

__all__ = ["DEFAULT_TOLERANCE_S", "InvalidSignature", "Webhook", "header", "verify", "verify_webhook"]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str  # `webhook-id`: the same on every attempt of one notification, so a key to drop duplicates by
    timestamp: int  # `webhook-timestamp`, seconds since the epoch
    body: bytes  # the raw body, exactly as signed
    headers: Mapping[str, str] = field(repr=False)
    duplicate: bool = False  # set by a deduplicator that saw this id before

    def json(self) -> Any:
        return json.loads(self.body)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name in `headers` (a plain dict is case-sensitive)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, *,
                   tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None) -> Webhook:
    """Check the signature and the timestamp's tolerance, then return the webhook. Raises InvalidSignature."""
    verify(secret, headers, body, tolerance_s=tolerance_s, now=now)
    return Webhook(id=header(headers, HEADER_ID) or "", timestamp=int(header(headers, HEADER_TIMESTAMP) or 0),
                   body=body, headers=headers)
