"""vali-Das's own webhook API under the seed's paths (seed 003): settings, test, and the event queries."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import AuthOAuth2, Strict
from verihook.service.views import (
    EndpointTestOut,
    ValidasEventDetailOut,
    ValidasEventOut,
    ValidasEventPage,
    ValidationOut,
    ValidationPage,
    WebhookSettingOut,
)

router = APIRouter(prefix="/validas/v1/webhook", tags=["vali-Das webhook"], route_class=V1Route)

SENT = Query(None, description="true: delivered successfully; false: not delivered successfully (yet)")


class WebhookSetting(Strict):
    url: str
    auth: AuthOAuth2
    enabled: bool = True


@router.post("/settings", operation_id="validas.webhook.settings.put",
             responses={201: {"description": "created", "model": WebhookSettingOut},
                        200: {"description": "replaced"}})
async def put_settings(body: WebhookSetting, caller: CallerDep, service: ServiceDep, response: Response
                       ) -> WebhookSettingOut:
    view, created = await service.validas.put_setting(caller, body.model_dump(exclude_none=True))
    response.status_code = 201 if created else 200
    return WebhookSettingOut.of(view)


@router.get("/settings", operation_id="validas.webhook.settings.get")
async def get_settings(caller: CallerDep, service: ServiceDep) -> WebhookSettingOut:
    return WebhookSettingOut.of(await service.validas.setting(caller))


@router.post("/test", operation_id="validas.webhook.test")
async def test_webhook(caller: CallerDep, service: ServiceDep) -> EndpointTestOut:
    return EndpointTestOut.of(await service.validas.test(caller))


@router.get("/events", operation_id="validas.webhook.events.list")
async def list_events(caller: CallerDep, service: ServiceDep, sent: bool | None = SENT,
                      validation_id: str | None = None, limit: int = Query(50, ge=1, le=500),
                      cursor: str | None = None) -> ValidasEventPage:
    page, statuses = await service.validas.events_page(caller, sent, validation_id, limit, cursor)
    return ValidasEventPage.of(page, lambda event: ValidasEventOut.of(event, statuses.get(event.id)))


@router.get("/events/{event_id}", operation_id="validas.webhook.events.get")
async def get_event(event_id: str, caller: CallerDep, service: ServiceDep) -> ValidasEventDetailOut:
    return ValidasEventDetailOut.of_detail(await service.validas.event(caller, event_id))


@router.get("/validations", operation_id="validas.webhook.validations.list")
async def list_validations(caller: CallerDep, service: ServiceDep, sent: bool | None = SENT,
                           limit: int = Query(50, ge=1, le=500), cursor: str | None = None
                           ) -> ValidationPage:
    return ValidationPage.of(await service.validas.validations(caller, sent, limit, cursor), ValidationOut.of)


@router.get("/validations/{validation_id}/events", operation_id="validas.webhook.validations.events")
async def validation_events(validation_id: str, caller: CallerDep, service: ServiceDep,
                            limit: int = Query(50, ge=1, le=500), cursor: str | None = None
                            ) -> ValidasEventPage:
    page, statuses = await service.validas.validation_events(caller, validation_id, limit, cursor)
    return ValidasEventPage.of(page, lambda event: ValidasEventOut.of(event, statuses.get(event.id)))
