"""Operational events: what Verihook itself tells a tenant about its endpoints and deliveries. No I/O here.

They are published to the tenant concerned and delivered only to its endpoints that name them in `event_types`
(never to endpoints taking every type); a tenant cannot publish them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verihook.profiles.base import EventType
from verihook.redaction import url_redacted
from verihook.times import rfc3339

ENDPOINT_DISABLED = "verihook.endpoint.disabled"
DELIVERY_EXHAUSTED = "verihook.delivery.exhausted"
TYPES = frozenset({ENDPOINT_DISABLED, DELIVERY_EXHAUSTED})

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
# the catalog's entries (GET /v1/event-types): the data each type carries, as published by the functions below
CATALOG = (
    EventType(
        name=ENDPOINT_DISABLED, profile="standard", subject_url=False, opt_in=True,
        description="Built in: one of the tenant's endpoints was disabled (auto_disable or a 410). Delivered only "
                    "to endpoints that name it in event_types.",
        schema={"type": "object", "required": ["endpoint_id", "reason", "at"],
                "properties": {"endpoint_id": _STRING, "reason": _STRING,
                               "at": {"type": "string", "format": "date-time"}}}),
    EventType(
        name=DELIVERY_EXHAUSTED, profile="standard", subject_url=False, opt_in=True,
        description="Built in: a delivery gave up (status failed). Delivered only to endpoints that name it in "
                    "event_types.",
        schema={"type": "object",
                "required": ["event_id", "delivery_id", "endpoint_id", "url", "attempts", "last_status_code",
                             "last_error"],
                "properties": {"event_id": _STRING, "delivery_id": _STRING, "endpoint_id": _NULLABLE_STRING,
                               "url": _STRING, "attempts": {"type": "integer", "minimum": 0},
                               "last_status_code": {"type": ["integer", "null"]},
                               "last_error": _NULLABLE_STRING}}),
)


@dataclass(frozen=True, slots=True)
class OperationalEvent:
    tenant_id: str
    type: str
    data: dict[str, Any]
    # the same news published twice (the dispatcher, and the sweep of news a killed process lost) is one event
    idempotency_key: str | None = None


KEY_PREFIX = "verihook."  # operational news's idempotency keys; refused to tenants


def is_operational(event_type: str) -> bool:
    return event_type in TYPES


def endpoint_disabled(tenant_id: str, endpoint_id: str, reason: str, at: float) -> OperationalEvent:
    return OperationalEvent(tenant_id, ENDPOINT_DISABLED,
                            {"endpoint_id": endpoint_id, "reason": reason, "at": rfc3339(at)})


def delivery_exhausted(tenant_id: str, *, event_id: str, delivery_id: str, endpoint_id: str | None, url: str,
                       attempts: int, last_status_code: int | None, last_error: str | None) -> OperationalEvent:
    """`attempts`: the delivery's attempts in all (a redelivered one may give up again, with more)."""
    return OperationalEvent(tenant_id, DELIVERY_EXHAUSTED, {
        "event_id": event_id, "delivery_id": delivery_id, "endpoint_id": endpoint_id,
        "url": url_redacted(url),
        "attempts": attempts, "last_status_code": last_status_code, "last_error": last_error},
        idempotency_key=f"{DELIVERY_EXHAUSTED}:{delivery_id}:{attempts}")
