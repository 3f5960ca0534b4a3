"""Endpoints: the list, New webhook, and an endpoint's page (edit, enable, rotate, test, recover, deliveries)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from verihook.errors import Conflict, InvalidInput
from verihook.operational import CATALOG as OPERATIONAL_TYPES
from verihook.operational import is_operational
from verihook.service import EndpointTest, Service
from verihook.service.stats import window_hours
from verihook.service.views import EndpointOut, EndpointPage
from verihook.web import forms, rule_fields
from verihook.web.charts import overview_charts
from verihook.web.render import Pages
from verihook.web.session import Form, Visitor, posted, visitor

NOTICES = {
    "created": "Webhook created.", "saved": "Changes saved.", "enabled": "Endpoint enabled.",
    "disabled": "Endpoint disabled: nothing is sent to it until it is enabled again.",
    "rotated": "New signing secret made; the previous one stays valid for 24 hours.",
}


def _parts(request: Request) -> tuple[Service, Pages]:
    return request.app.state.service, request.app.state.pages


async def list_endpoints(request: Request) -> Response:
    service, pages = _parts(request)
    who = await visitor(request)
    page = await service.endpoints.list(who.caller, 100, request.query_params.get("cursor") or None)
    shown = EndpointPage.of(page, EndpointOut.of)  # as GET /v1/endpoints: secrets and URL passwords redacted
    return pages.render(request, "endpoints.html", visitor=who, nav="endpoints", endpoints=shown.data,
                        next_cursor=shown.next_cursor)


async def _new_form_context(service: Service, who: Visitor, form: Form | None) -> dict[str, Any]:
    profiles = service.portal.profiles()
    catalog = await service.events.catalog()
    registered = [t.name for t in catalog if t.profile == "standard" and not is_operational(t.name)]
    tenants = (await service.tenants.list(who.caller, 200, None)).items if who.is_admin else []
    default_profile = who.caller.tenant.profile if who.caller.tenant else "standard"
    return {"profiles": profiles, "registered_types": registered, "tenants": tenants,
            "operational_types": [t.name for t in OPERATIONAL_TYPES],
            "default_profile": form.get("profile") if form else default_profile,
            "token": form.get("token") if form else service.portal.new_basic_token(),
            "fixed": {p.name: rule_fields.fixed_in_words(p) for p in profiles}, "form": form or Form([])}


async def new_endpoint_form(request: Request) -> Response:
    service, pages = _parts(request)
    who = await visitor(request)
    context = await _new_form_context(service, who, None)
    return pages.render(request, "endpoint_new.html", visitor=who, nav="endpoints", error=None, **context)


async def create_endpoint(request: Request) -> Response:
    service, pages = _parts(request)
    who, form = await posted(request)
    try:
        view = await service.endpoints.create(who.caller, forms.new_endpoint_fields(form))
    except InvalidInput as error:
        context = await _new_form_context(service, who, form)
        return pages.render(request, "endpoint_new.html", 422, visitor=who, nav="endpoints", error=error,
                            **context)
    return RedirectResponse(f"{request.scope['root_path']}/endpoints/{view.endpoint.id}?done=created", 303)


async def _detail(request: Request, who: Visitor, endpoint_id: str, *, status_code: int = 200,
                  error: InvalidInput | None = None, test: EndpointTest | None = None,
                  notice: str | None = None) -> Response:
    service, pages = _parts(request)
    view = await service.endpoints.get(who.caller, endpoint_id)
    window, hours = window_hours(request.query_params.get("window"))
    health = await service.stats.endpoint_health(who.caller, endpoint_id, hours)
    notice = notice or NOTICES.get(request.query_params.get("done", ""))
    profile = view.rules.profile
    return pages.render(
        request, "endpoint_detail.html", status_code, visitor=who, nav="endpoints", view=view, health=health,
        window=window, charts=overview_charts(health.buckets),
        ep=view.endpoint, rules=view.rules, fixed=rule_fields.fixed_fields(profile),
        editable=rule_fields.editable(who, profile), retry_words=rule_fields.retry_in_words(view.rules.retry.to_dict()),
        # a profile's own types and the built-in ones (any endpoint may name them); none: a text field for any type
        event_type_choices=[*profile.event_types, *(t.name for t in OPERATIONAL_TYPES)] if profile.event_types else [],
        error=error, test=test, notice=notice)


async def endpoint_detail(request: Request) -> Response:
    return await _detail(request, await visitor(request), request.path_params["endpoint_id"])


async def update_endpoint(request: Request) -> Response:
    service, _ = _parts(request)
    who, form = await posted(request)
    endpoint_id = request.path_params["endpoint_id"]
    view = await service.endpoints.get(who.caller, endpoint_id)
    try:
        fields = forms.edit_endpoint_fields(form, view.endpoint.auth)
        allowed = rule_fields.editable(who, view.rules.profile)
        fields = {k: v for k, v in fields.items() if k not in rule_fields.RULE_FIELDS or k in allowed}
        await service.endpoints.update(who.caller, endpoint_id, fields)
    except InvalidInput as error:
        return await _detail(request, who, endpoint_id, status_code=422, error=error)
    return RedirectResponse(f"{request.scope['root_path']}/endpoints/{endpoint_id}?done=saved", 303)


async def set_enabled(request: Request) -> Response:
    service, _ = _parts(request)
    who, form = await posted(request)
    endpoint_id = request.path_params["endpoint_id"]
    enabled = form.get("enabled") == "true"
    await service.endpoints.update(who.caller, endpoint_id, {"enabled": enabled})
    done = "enabled" if enabled else "disabled"
    return RedirectResponse(f"{request.scope['root_path']}/endpoints/{endpoint_id}?done={done}", 303)


async def rotate_secret(request: Request) -> Response:
    service, _ = _parts(request)
    who, _ = await posted(request)
    endpoint_id = request.path_params["endpoint_id"]
    await service.endpoints.rotate_secret(who.caller, endpoint_id)
    return RedirectResponse(f"{request.scope['root_path']}/endpoints/{endpoint_id}?done=rotated", 303)


async def send_test(request: Request) -> Response:
    service, _ = _parts(request)
    who, _ = await posted(request)
    endpoint_id = request.path_params["endpoint_id"]
    result = await service.test_endpoint(who.caller, endpoint_id)
    return await _detail(request, who, endpoint_id, test=result)


async def recover(request: Request) -> Response:
    service, _ = _parts(request)
    who, form = await posted(request)
    endpoint_id = request.path_params["endpoint_id"]
    window = forms.RECOVER_WINDOWS.get(form.get("window"), forms.RECOVER_WINDOWS["24h"])
    include_skipped = form.get("include_skipped") == "on"
    try:
        count = await service.endpoints.recover(who.caller, endpoint_id, service.ctx.clock() - window, None,
                                                include_skipped)
    except Conflict as refused:  # the endpoint is disabled
        return await _detail(request, who, endpoint_id, status_code=409, notice=refused.detail)
    plural = "y" if count == 1 else "ies"
    what = "failed or skipped" if include_skipped else "failed"
    return await _detail(request, who, endpoint_id, notice=f"{count} {what} deliver{plural} queued again.")


routes = [
    Route("/endpoints", list_endpoints, methods=["GET"]),
    Route("/endpoints", create_endpoint, methods=["POST"]),
    Route("/endpoints/new", new_endpoint_form, methods=["GET"]),
    Route("/endpoints/{endpoint_id}", endpoint_detail, methods=["GET"]),
    Route("/endpoints/{endpoint_id}", update_endpoint, methods=["POST"]),
    Route("/endpoints/{endpoint_id}/enabled", set_enabled, methods=["POST"]),
    Route("/endpoints/{endpoint_id}/rotate", rotate_secret, methods=["POST"]),
    Route("/endpoints/{endpoint_id}/test", send_test, methods=["POST"]),
    Route("/endpoints/{endpoint_id}/recover", recover, methods=["POST"]),
]
