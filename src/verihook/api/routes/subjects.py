"""Subjects: the pull fallback (status, history, data), status changes that publish, filters, events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.filters import DELIVERY_STATUS, delivery_statuses
from verihook.api.routes.events import published_out
from verihook.api.schemas import SubjectCreate, SubjectPatch, event_out, page_out, subject_out
from verihook.model import EventFilter
from verihook.service import SubjectInput

router = APIRouter(prefix="/v1/subjects", tags=["subjects"], route_class=V1Route)

# subject ids are unique per tenant: which subject an id names (service/subject_refs.py)
TENANT = Query(None, description="the subject's tenant (id or uid); without it: the caller's own tenant's subject, "
               "else the only one of that id among the tenants it acts for")


@router.post("", status_code=201, operation_id="v1.subject.create")
async def create_subject(body: SubjectCreate, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    detail = await service.subjects.create(caller, SubjectInput(**body.model_dump()))
    return subject_out(detail.subject, detail)


@router.get("", operation_id="v1.subject.list")
async def list_subjects(caller: CallerDep, service: ServiceDep, kind: str | None = None,
                        delivery_status: str | None = DELIVERY_STATUS, limit: int = Query(50, ge=1, le=500),
                        cursor: str | None = None) -> dict[str, Any]:
    page = await service.subjects.list(caller, kind, delivery_statuses(delivery_status), limit, cursor)
    return page_out([subject_out(s) for s in page.items], page.next_cursor)


@router.get("/{subject_id}", operation_id="v1.subject.get")
async def get_subject(subject_id: str, caller: CallerDep, service: ServiceDep, tenant_id: str | None = TENANT
                      ) -> dict[str, Any]:
    detail = await service.subjects.get(caller, subject_id, tenant_id)
    return subject_out(detail.subject, detail)


@router.patch("/{subject_id}", operation_id="v1.subject.update")
async def change_status(subject_id: str, body: SubjectPatch, caller: CallerDep, service: ServiceDep,
                        tenant_id: str | None = TENANT) -> dict[str, Any]:
    changed = await service.subjects.change_status(caller, subject_id, body.status, body.data, tenant_id)
    out = subject_out(changed.detail.subject, changed.detail)
    out["event"] = published_out(changed.published) if changed.published else None
    return out


@router.get("/{subject_id}/events", operation_id="v1.subject.events")
async def subject_events(subject_id: str, caller: CallerDep, service: ServiceDep,
                         delivery_status: str | None = DELIVERY_STATUS, limit: int = Query(50, ge=1, le=500),
                         cursor: str | None = None, tenant_id: str | None = TENANT) -> dict[str, Any]:
    subject = (await service.subjects.get(caller, subject_id, tenant_id)).subject
    where = EventFilter(tenant_ids=[subject.tenant_id], subject_id=subject.id,
                        delivery_status=delivery_statuses(delivery_status))
    page = await service.events.list(caller, where, limit, cursor)
    statuses = await service.events.statuses([e.id for e in page.items])
    return page_out([event_out(e, delivery_status=statuses.get(e.id)) for e in page.items], page.next_cursor)
