"""Events: publish one or a batch, list with filters, read with deliveries and attempts, redeliver."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.filters import DELIVERY_STATUS, delivery_statuses
from verihook.api.schemas import EventBatchBody, EventCreate, event_input
from verihook.model import Event, EventFilter, Page
from verihook.service import Service
from verihook.service.views import (
    EventDetailOut,
    EventPage,
    PublishedBatchOut,
    PublishedOut,
    RedeliveredOut,
)
from verihook.times import parse_time

router = APIRouter(prefix="/v1/events", tags=["events"], route_class=V1Route)


async def events_page(service: Service, page: Page[Event]) -> EventPage:
    """A page of events, each with its rolled-up delivery status."""
    return EventPage.of_events(page, await service.events.statuses([e.id for e in page.items]))


@router.post("", status_code=202, operation_id="v1.event.create")
async def publish(body: EventCreate, caller: CallerDep, service: ServiceDep) -> PublishedOut:
    [published] = await service.events.publish(caller, [event_input(body)])
    return PublishedOut.of_published(published)


@router.post("/batch", status_code=202, operation_id="v1.event.create_batch", response_model=PublishedBatchOut)
async def publish_batch(body: EventBatchBody, caller: CallerDep, service: ServiceDep) -> Response:
    published = await service.events.publish(caller, body.events, batch=True)
    return Response(PublishedBatchOut.json_of(published), status_code=202, media_type="application/json")


@router.get("", operation_id="v1.event.list")
async def list_events(
    caller: CallerDep, service: ServiceDep, type: str | None = None, subject_id: str | None = None,
    endpoint_id: str | None = None, delivery_status: str | None = DELIVERY_STATUS, since: str | None = None,
    until: str | None = None, limit: int = Query(50, ge=1, le=500), cursor: str | None = None,
) -> EventPage:
    where = EventFilter(type=type, subject_id=subject_id, endpoint_id=endpoint_id,
                        delivery_status=delivery_statuses(delivery_status),
                        since=parse_time(since, "since") if since else None,
                        until=parse_time(until, "until") if until else None)
    return await events_page(service, await service.events.list(caller, where, limit, cursor))


@router.get("/{event_id}", operation_id="v1.event.get")
async def get_event(event_id: str, caller: CallerDep, service: ServiceDep) -> EventDetailOut:
    detail = await service.events.get(caller, event_id)
    return EventDetailOut.of(detail.event, detail.deliveries)


@router.post("/{event_id}/redeliver", status_code=202, operation_id="v1.event.redeliver")
async def redeliver(event_id: str, caller: CallerDep, service: ServiceDep) -> RedeliveredOut:
    count = await service.events.redeliver(caller, event_id)
    detail = await service.events.get(caller, event_id)
    return RedeliveredOut.of(count, detail.deliveries)
