"""Subjects: the pull fallback (status, history, data), status changes that publish, filters, events."""

from __future__ import annotations

from fastapi import APIRouter, Query

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.filters import DELIVERY_STATUS, delivery_statuses
from verihook.api.routes.events import events_page
from verihook.api.schemas import SubjectCreate, SubjectPatch
from verihook.model import EventFilter
from verihook.service import SubjectInput
from verihook.service.views import EventPage, SubjectChangedOut, SubjectDetailOut, SubjectOut, SubjectPage

router = APIRouter(prefix="/v1/subjects", tags=["subjects"], route_class=V1Route)

# subject ids are unique per tenant: which subject an id names (service/subject_refs.py)
TENANT = Query(None, description="the subject's tenant (id or uid); without it: the caller's own tenant's subject, "
               "else the only one of that id among the tenants it acts for")


@router.post("", status_code=201, operation_id="v1.subject.create")
async def create_subject(body: SubjectCreate, caller: CallerDep, service: ServiceDep) -> SubjectDetailOut:
    return SubjectDetailOut.of(await service.subjects.create(caller, SubjectInput(**body.model_dump())))


@router.get("", operation_id="v1.subject.list")
async def list_subjects(caller: CallerDep, service: ServiceDep, kind: str | None = None,
                        delivery_status: str | None = DELIVERY_STATUS, limit: int = Query(50, ge=1, le=500),
                        cursor: str | None = None) -> SubjectPage:
    page = await service.subjects.list(caller, kind, delivery_statuses(delivery_status), limit, cursor)
    return SubjectPage.of(page, SubjectOut.of)


@router.get("/{subject_id}", operation_id="v1.subject.get")
async def get_subject(subject_id: str, caller: CallerDep, service: ServiceDep, tenant_id: str | None = TENANT
                      ) -> SubjectDetailOut:
    return SubjectDetailOut.of(await service.subjects.get(caller, subject_id, tenant_id))


@router.patch("/{subject_id}", operation_id="v1.subject.update")
async def change_status(subject_id: str, body: SubjectPatch, caller: CallerDep, service: ServiceDep,
                        tenant_id: str | None = TENANT) -> SubjectChangedOut:
    return SubjectChangedOut.of_change(await service.subjects.change_status(caller, subject_id, body.status,
                                                                             body.data, tenant_id))


@router.get("/{subject_id}/events", operation_id="v1.subject.events")
async def subject_events(subject_id: str, caller: CallerDep, service: ServiceDep,
                         delivery_status: str | None = DELIVERY_STATUS, limit: int = Query(50, ge=1, le=500),
                         cursor: str | None = None, tenant_id: str | None = TENANT) -> EventPage:
    subject = (await service.subjects.get(caller, subject_id, tenant_id)).subject
    where = EventFilter(tenant_ids=[subject.tenant_id], subject_id=subject.id,
                        delivery_status=delivery_statuses(delivery_status))
    return await events_page(service, await service.events.list(caller, where, limit, cursor))
