"""vali-Das's own webhook API under the seed's paths (seed 003): settings, test, and the event queries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import AuthOAuth2, Strict, attempt_out, auth_out, page_out, test_out
from verihook.model import DeliveryStatus, Event, rollup
from verihook.service import EndpointView
from verihook.service.validas import Validation
from verihook.times import rfc3339

router = APIRouter(prefix="/validas/v1/webhook", tags=["vali-Das webhook"], route_class=V1Route)

SENT = Query(None, description="true: delivered successfully; false: not delivered successfully (yet)")


class WebhookSetting(Strict):
    url: str
    auth: AuthOAuth2
    enabled: bool = True


def setting_out(view: EndpointView) -> dict[str, Any]:
    ep = view.endpoint
    return {"id": ep.id, "url": ep.url, "auth": auth_out(ep.auth, reveal=False), "enabled": ep.enabled,
            "disabled_reason": ep.disabled_reason, "created_at": rfc3339(ep.created_at),
            "updated_at": rfc3339(ep.updated_at)}


def validas_event_out(event: Event, status: DeliveryStatus | None) -> dict[str, Any]:
    return {"event_id": event.id, "validation_id": event.data.get("validation_id"),
            "status": event.data.get("status"), "time": event.data.get("time"),
            "sent": status is DeliveryStatus.SUCCEEDED, "delivery_status": status.value if status else None,
            "created_at": rfc3339(event.created_at)}


def validation_out(validation: Validation) -> dict[str, Any]:
    subject, status = validation.subject, validation.delivery_status
    return {"validation_id": subject.id, "status": subject.status, "sent": status is DeliveryStatus.SUCCEEDED,
            "delivery_status": status.value if status else None, "updated_at": rfc3339(subject.updated_at)}


@router.post("/settings", operation_id="validas.webhook.settings.put",
             responses={201: {"description": "created"}, 200: {"description": "replaced"}})
async def put_settings(body: WebhookSetting, caller: CallerDep, service: ServiceDep, response: Response
                       ) -> dict[str, Any]:
    view, created = await service.validas.put_setting(caller, body.model_dump(exclude_none=True))
    response.status_code = 201 if created else 200
    return setting_out(view)


@router.get("/settings", operation_id="validas.webhook.settings.get")
async def get_settings(caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    return setting_out(await service.validas.setting(caller))


@router.post("/test", operation_id="validas.webhook.test")
async def test_webhook(caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    return test_out(await service.validas.test(caller))


@router.get("/events", operation_id="validas.webhook.events.list")
async def list_events(caller: CallerDep, service: ServiceDep, sent: bool | None = SENT,
                      validation_id: str | None = None, limit: int = Query(50, ge=1, le=500),
                      cursor: str | None = None) -> dict[str, Any]:
    page, statuses = await service.validas.events_page(caller, sent, validation_id, limit, cursor)
    return page_out([validas_event_out(e, statuses.get(e.id)) for e in page.items], page.next_cursor)


@router.get("/events/{event_id}", operation_id="validas.webhook.events.get")
async def get_event(event_id: str, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    detail = await service.validas.event(caller, event_id)
    body = validas_event_out(detail.event, rollup(d.status for d in detail.deliveries))
    body["attempts"] = [{**attempt_out(a), "url": d.url} for d in detail.deliveries for a in d.attempts]
    return body


@router.get("/validations", operation_id="validas.webhook.validations.list")
async def list_validations(caller: CallerDep, service: ServiceDep, sent: bool | None = SENT,
                           limit: int = Query(50, ge=1, le=500), cursor: str | None = None) -> dict[str, Any]:
    page = await service.validas.validations(caller, sent, limit, cursor)
    return page_out([validation_out(v) for v in page.items], page.next_cursor)


@router.get("/validations/{validation_id}/events", operation_id="validas.webhook.validations.events")
async def validation_events(validation_id: str, caller: CallerDep, service: ServiceDep,
                            limit: int = Query(50, ge=1, le=500), cursor: str | None = None) -> dict[str, Any]:
    page, statuses = await service.validas.validation_events(caller, validation_id, limit, cursor)
    return page_out([validas_event_out(e, statuses.get(e.id)) for e in page.items], page.next_cursor)
