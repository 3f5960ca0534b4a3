"""Events as the API shows them: alone with their rolled-up delivery status, or with every delivery and attempt."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import Field

from verihook.model import Attempt, Delivery, DeliveryStatus, Event, Page, Published, rollup
from verihook.operational import is_operational
from verihook.profiles import EventType
from verihook.redaction import url_redacted
from verihook.service.views.common import Number, PageOut, Timestamp, View
from verihook.times import rfc3339, rfc3339_or_none

ROLLUP = "failed if any delivery failed, else pending if any is pending, else succeeded; null: no destination"


class AttemptOut(View):
    number: int
    at: Timestamp
    status_code: int | None
    latency_ms: Number
    error: str | None
    error_detail: str | None
    request_headers: dict[str, str] = Field(description="as sent, credentials redacted")
    response_headers: dict[str, str]
    response_body: str | None = Field(description="the first 4 KiB")

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(**attempt_fields(attempt))


def attempt_fields(attempt: Attempt) -> dict[str, Any]:
    return {"number": attempt.number, "at": rfc3339(attempt.at), "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms, "error": attempt.error, "error_detail": attempt.error_detail,
            "request_headers": attempt.request_headers, "response_headers": attempt.response_headers,
            "response_body": attempt.response_body}


class DeliveryOut(View):
    id: str
    endpoint_id: str | None = Field(description="null: the subject's own webhook_url")
    url: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: Timestamp | None
    last_status_code: int | None
    last_error: str | None
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(**delivery_fields(delivery, url_redacted))


def delivery_fields(delivery: Delivery, redacted: Callable[[str], str | None]) -> dict[str, Any]:
    """DeliveryOut's fields; `redacted`: url_redacted, or a cache of it (a batch repeats a few URLs)."""
    pending = delivery.status is DeliveryStatus.PENDING
    return {"id": delivery.id, "endpoint_id": delivery.endpoint_id, "url": redacted(delivery.url),
            "status": delivery.status, "attempt_count": delivery.attempt_count,
            "next_attempt_at": rfc3339_or_none(delivery.next_attempt_at) if pending else None,
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
            "attempts": [attempt_fields(a) for a in delivery.attempts]}


class _EventFields(View):
    id: str
    type: str
    tenant_id: str
    subject_id: str | None
    sequence: int | None = Field(description="the event's number among its subject's events")
    data: dict[str, Any]
    idempotency_key: str | None
    created_at: Timestamp


class EventOut(_EventFields):
    delivery_status: DeliveryStatus | None = Field(description=ROLLUP)

    @classmethod
    def of(cls, event: Event, delivery_status: DeliveryStatus | None) -> EventOut:
        return cls(**_event_fields(event), delivery_status=delivery_status)


class EventPage(PageOut[EventOut]):
    @classmethod
    def of_events(cls, page: Page[Event], statuses: Mapping[str, DeliveryStatus | None]) -> EventPage:
        """`statuses`: each event's rolled-up delivery status by id (Events.statuses)."""
        return cls.of(page, lambda event: EventOut.of(event, statuses.get(event.id)))


class EventDetailOut(_EventFields):
    deliveries: list[DeliveryOut]
    delivery_status: DeliveryStatus | None = Field(description=ROLLUP)

    @classmethod
    def of(cls, event: Event, deliveries: Sequence[Delivery]) -> EventDetailOut:
        return cls(**_detail_fields(event, deliveries))


class PublishedOut(EventDetailOut):
    duplicate: bool = Field(description="true: the idempotency key named an earlier event, returned instead")

    @classmethod
    def of_published(cls, published: Published) -> PublishedOut:
        return cls(**_detail_fields(published.event, published.deliveries), duplicate=published.duplicate)


class PublishedBatchOut(View):
    data: list[PublishedOut]

    @classmethod
    def of(cls, published: Sequence[Published]) -> PublishedBatchOut:
        return cls(data=[PublishedOut.of_published(p) for p in published])

    @staticmethod
    def json_of(published: Sequence[Published]) -> bytes:
        """The JSON of `of(published)` written directly from the events (no model per event and delivery: the
        batch answer is on publishing's hot path); tests/unit/test_views.py holds the two equal."""
        redacted = functools.cache(url_redacted)
        shown = []
        for item in published:
            fields = _detail_fields(item.event, item.deliveries, redacted)
            fields["duplicate"] = item.duplicate
            shown.append(fields)
        return orjson.dumps({"data": shown})


class RedeliveredOut(View):
    requeued: int = Field(description="how many deliveries started a new cycle")
    deliveries: list[DeliveryOut]

    @classmethod
    def of(cls, requeued: int, deliveries: Sequence[Delivery]) -> RedeliveredOut:
        return cls(requeued=requeued, deliveries=[DeliveryOut.of(d) for d in deliveries])


class EventTypeOut(View):
    name: str
    profile: str
    description: str
    schema_: dict[str, Any] = Field(serialization_alias="schema", description="JSON Schema of the event's data")
    operational: bool = Field(description="built in: published by Verihook itself about the tenant's endpoints and "
                                          "deliveries, delivered only to endpoints that name it in event_types")

    @classmethod
    def of(cls, event_type: EventType) -> EventTypeOut:
        return cls(name=event_type.name, profile=event_type.profile, description=event_type.description,
                   schema_=event_type.schema, operational=is_operational(event_type.name))


class EventTypeListOut(View):
    data: list[EventTypeOut]


def _event_fields(event: Event) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "tenant_id": event.tenant_id, "subject_id": event.subject_id,
            "sequence": event.sequence, "data": event.data, "idempotency_key": event.idempotency_key,
            "created_at": rfc3339(event.created_at)}


def _detail_fields(event: Event, deliveries: Sequence[Delivery],
                   redacted: Callable[[str], str | None] = url_redacted) -> dict[str, Any]:
    fields = _event_fields(event)
    fields["deliveries"] = [delivery_fields(d, redacted) for d in deliveries]
    fields["delivery_status"] = rollup(d.status for d in deliveries)
    return fields
