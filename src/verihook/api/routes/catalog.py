"""The event-type catalog: every profile's types with their schemas, and types registered with a schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import EventTypeCreate
from verihook.profiles import EventType

router = APIRouter(prefix="/v1/event-types", tags=["event types"], route_class=V1Route)


def event_type_out(event_type: EventType) -> dict[str, Any]:
    return {"name": event_type.name, "profile": event_type.profile, "description": event_type.description,
            "schema": event_type.schema}


@router.get("", operation_id="v1.event_type.list")
async def list_event_types(_: CallerDep, service: ServiceDep) -> dict[str, Any]:
    return {"data": [event_type_out(t) for t in await service.events.catalog()]}


@router.post("", status_code=201, operation_id="v1.event_type.create")
async def register_event_type(body: EventTypeCreate, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    return event_type_out(await service.events.register_type(caller, body.name, body.schema_, body.description))
