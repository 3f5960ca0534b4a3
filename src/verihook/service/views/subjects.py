"""Subjects as the API shows them: alone, or with their status history and delivery counts."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from verihook.model import DeliveryStatus, Subject
from verihook.redaction import url_redacted
from verihook.service.subjects import StatusChanged, SubjectDetail
from verihook.service.views.common import PageOut, Timestamp, View
from verihook.service.views.events import ROLLUP, PublishedOut
from verihook.times import rfc3339


class _SubjectFields(View):
    id: str
    kind: str
    tenant_id: str
    external_id: str | None
    profile: str | None
    webhook_url: str | None
    status: str | None
    data: dict[str, Any] | None
    sequence: int = Field(description="the last sequence number given to one of its events")
    created_at: Timestamp
    updated_at: Timestamp


class SubjectOut(_SubjectFields):
    @classmethod
    def of(cls, subject: Subject) -> SubjectOut:
        return cls(**_subject_fields(subject))


class SubjectPage(PageOut[SubjectOut]):
    pass


class StatusChangeOut(View):
    status: str
    at: Timestamp
    event_id: str | None = Field(description="the event the change published; null: none")


class SubjectDetailOut(_SubjectFields):
    history: list[StatusChangeOut]
    deliveries: dict[str, int] = Field(description="how many of its deliveries are in each status")
    delivery_status: DeliveryStatus | None = Field(description=ROLLUP)

    @classmethod
    def of(cls, detail: SubjectDetail) -> SubjectDetailOut:
        return cls(**_detail_fields(detail))


class SubjectChangedOut(SubjectDetailOut):
    event: PublishedOut | None = Field(description="the event the change published; null: the subject's profile "
                                                   "publishes none for this status")

    @classmethod
    def of_change(cls, changed: StatusChanged) -> SubjectChangedOut:
        event = PublishedOut.of_published(changed.published) if changed.published else None
        return cls(**_detail_fields(changed.detail), event=event)


def _subject_fields(subject: Subject) -> dict[str, Any]:
    return {"id": subject.id, "kind": subject.kind, "tenant_id": subject.tenant_id,
            "external_id": subject.external_id, "profile": subject.profile,
            "webhook_url": url_redacted(subject.webhook_url), "status": subject.status, "data": subject.data,
            "sequence": subject.sequence, "created_at": rfc3339(subject.created_at),
            "updated_at": rfc3339(subject.updated_at)}


def _detail_fields(detail: SubjectDetail) -> dict[str, Any]:
    history = [StatusChangeOut(status=h.status, at=rfc3339(h.at), event_id=h.event_id) for h in detail.history]
    return {**_subject_fields(detail.subject), "history": history, "deliveries": detail.deliveries,
            "delivery_status": detail.delivery_status}
