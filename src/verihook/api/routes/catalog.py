"""The event-type catalog: every profile's types with their schemas, and types registered with a schema."""

from __future__ import annotations

from fastapi import APIRouter

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import EventTypeCreate
from verihook.service.views import EventTypeListOut, EventTypeOut

router = APIRouter(prefix="/v1/event-types", tags=["event types"], route_class=V1Route)


@router.get("", operation_id="v1.event_type.list")
async def list_event_types(_: CallerDep, service: ServiceDep) -> EventTypeListOut:
    return EventTypeListOut(data=[EventTypeOut.of(t) for t in await service.events.catalog()])


@router.post("", status_code=201, operation_id="v1.event_type.create")
async def register_event_type(body: EventTypeCreate, caller: CallerDep, service: ServiceDep) -> EventTypeOut:
    return EventTypeOut.of(await service.events.register_type(caller, body.name, body.schema_, body.description))
