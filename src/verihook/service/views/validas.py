"""vali-Das's own webhook API as the seed documents it: the setting, its events and validations."""

from __future__ import annotations

from pydantic import Field

from verihook.model import DeliveryStatus, Event, rollup
from verihook.service.endpoints import EndpointView
from verihook.service.events import EventDetail
from verihook.service.validas import Validation
from verihook.service.views.common import PageOut, Timestamp, View
from verihook.service.views.endpoints import AuthOut, auth_shown
from verihook.service.views.events import AttemptOut, attempt_fields
from verihook.times import rfc3339

SENT = "true: delivered successfully"


class WebhookSettingOut(View):
    """The tenant's one webhook setting, its client secret redacted."""

    id: str
    url: str
    auth: AuthOut
    enabled: bool
    disabled_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, view: EndpointView) -> WebhookSettingOut:
        ep = view.endpoint
        return cls(id=ep.id, url=ep.url, auth=auth_shown(ep.auth, reveal=False), enabled=ep.enabled,
                   disabled_reason=ep.disabled_reason,
                   created_at=rfc3339(ep.created_at), updated_at=rfc3339(ep.updated_at))


class ValidasEventOut(View):
    event_id: str
    validation_id: str | None
    status: str | None
    time: str | None
    sent: bool = Field(description=SENT)
    delivery_status: DeliveryStatus | None
    created_at: Timestamp

    @classmethod
    def of(cls, event: Event, status: DeliveryStatus | None) -> ValidasEventOut:
        return cls(**_event_fields(event, status))


class ValidasEventPage(PageOut[ValidasEventOut]):
    pass


class ValidasAttemptOut(AttemptOut):
    url: str = Field(description="where the attempt was sent")


class ValidasEventDetailOut(ValidasEventOut):
    attempts: list[ValidasAttemptOut] = Field(description="every attempt of every delivery of the event")

    @classmethod
    def of_detail(cls, detail: EventDetail) -> ValidasEventDetailOut:
        attempts = [ValidasAttemptOut(**attempt_fields(a), url=d.url) for d in detail.deliveries for a in d.attempts]
        status = rollup(d.status for d in detail.deliveries)
        return cls(**_event_fields(detail.event, status), attempts=attempts)


class ValidationOut(View):
    validation_id: str
    status: str | None
    sent: bool = Field(description=SENT)
    delivery_status: DeliveryStatus | None
    updated_at: Timestamp

    @classmethod
    def of(cls, validation: Validation) -> ValidationOut:
        subject, status = validation.subject, validation.delivery_status
        return cls(validation_id=subject.id, status=subject.status, sent=status is DeliveryStatus.SUCCEEDED,
                   delivery_status=status, updated_at=rfc3339(subject.updated_at))



class ValidationPage(PageOut[ValidationOut]):
    pass


def _event_fields(event: Event, status: DeliveryStatus | None) -> dict[str, object]:
    return {"event_id": event.id, "validation_id": event.data.get("validation_id"),
            "status": event.data.get("status"), "time": event.data.get("time"),
            "sent": status is DeliveryStatus.SUCCEEDED, "delivery_status": status,
            "created_at": rfc3339(event.created_at)}
