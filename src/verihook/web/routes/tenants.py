"""The overview (charts), subjects with their status history, and the tenants page: a reseller's child portals
(suspend, resume), and the session tenant's own API keys (rotate, revoke)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from verihook.errors import InvalidInput
from verihook.model import DeliveryStatus
from verihook.service import NewApiKey, Service
from verihook.service.stats import totals_of, window_hours
from verihook.service.views import SubjectDetailOut, SubjectOut, SubjectPage
from verihook.web.charts import overview_charts
from verihook.web.render import Pages
from verihook.web.session import Visitor, posted, visitor


async def overview(request: Request) -> Response:
    service: Service = request.app.state.service
    pages: Pages = request.app.state.pages
    who = await visitor(request)
    window, hours = window_hours(request.query_params.get("window"))
    buckets = await service.stats.series(who.caller, hours)
    return pages.render(request, "overview.html", visitor=who, nav="overview", charts=overview_charts(buckets),
                        totals=totals_of(buckets), window=window)


async def subjects(request: Request) -> Response:
    service: Service = request.app.state.service
    pages: Pages = request.app.state.pages
    who = await visitor(request)
    kind = request.query_params.get("kind") or None
    status_text = request.query_params.get("status") or ""
    status = DeliveryStatus(status_text) if status_text in {s.value for s in DeliveryStatus} else None
    page = await service.subjects.list(who.caller, kind, status, 50, request.query_params.get("cursor") or None)
    return pages.render(request, "subjects.html", visitor=who, nav="subjects", subjects=SubjectPage.of(
                            page, SubjectOut.of).data,
                        kind=kind or "", status=status.value if status else "", next_cursor=page.next_cursor)


async def subject_detail(request: Request) -> Response:
    service: Service = request.app.state.service
    pages: Pages = request.app.state.pages
    who = await visitor(request)
    subject = SubjectDetailOut.of(await service.subjects.get(who.caller, request.path_params["subject_id"],
                                                             request.query_params.get("tenant") or None))
    return pages.render(request, "subject_detail.html", visitor=who, nav="subjects", subject=subject)


KEY_GRACES = {"24h": 86400.0, "1h": 3600.0, "7d": 7 * 86400.0, "0": 0.0}  # the rotate form's choices
NOTICES = {"suspended": "Tenant suspended: its keys and its descendants' answer 403 until it is resumed.",
           "resumed": "Tenant resumed.", "revoked": "Key revoked."}


async def _children_page(request: Request, link: str | None = None, link_for: str | None = None,
                         new_key: NewApiKey | None = None, who: Visitor | None = None) -> Response:
    service: Service = request.app.state.service
    pages: Pages = request.app.state.pages
    who = who or await visitor(request)
    children = await service.portal.children(who.caller)
    own = who.caller.tenant
    keys = await service.keys.list(who.caller, own.id) if own is not None else []
    return pages.render(request, "tenants.html", visitor=who, nav="tenants", children=children, link=link,
                        link_for=link_for, keys=keys, new_key=new_key, graces=list(KEY_GRACES),
                        notice=NOTICES.get(request.query_params.get("done", "")))


async def child_portals(request: Request) -> Response:
    return await _children_page(request)


async def make_portal_link(request: Request) -> Response:
    service: Service = request.app.state.service
    who, _ = await posted(request)
    link = await service.portal.create_link(who.caller, request.path_params["tenant_id"])
    url = f"{request.url.scheme}://{request.url.netloc}{request.scope['root_path']}/portal/{link.token}"
    return await _children_page(request, link=url, link_for=link.tenant_id)


async def rotate_key(request: Request) -> Response:
    """A new key for the session's tenant, shown once on the page this answers (it is never shown again)."""
    service: Service = request.app.state.service
    who, form = await posted(request)
    grace = KEY_GRACES.get(form.get("grace"))
    if grace is None:
        raise InvalidInput(f"keep older keys for one of {', '.join(KEY_GRACES)}", field="grace")
    made = await service.keys.rotate(who.caller, request.path_params["tenant_id"], grace)
    return await _children_page(request, new_key=made, who=who)


async def revoke_key(request: Request) -> Response:
    service: Service = request.app.state.service
    who, _ = await posted(request)
    await service.keys.revoke(who.caller, request.path_params["tenant_id"], request.path_params["key_id"])
    return _back(request, "revoked")


async def suspend(request: Request) -> Response:
    return await _set_suspended(request, True)


async def resume(request: Request) -> Response:
    return await _set_suspended(request, False)


async def _set_suspended(request: Request, suspended: bool) -> Response:
    service: Service = request.app.state.service
    who, _ = await posted(request)
    await service.keys.set_suspended(who.caller, request.path_params["tenant_id"], suspended)
    return _back(request, "suspended" if suspended else "resumed")


def _back(request: Request, done: str) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/tenants?done={done}", status_code=303)


routes = [
    Route("/", overview, methods=["GET"]),
    Route("/subjects", subjects, methods=["GET"]),
    Route("/subjects/{subject_id}", subject_detail, methods=["GET"]),
    Route("/tenants", child_portals, methods=["GET"]),
    Route("/tenants/{tenant_id}/portal-link", make_portal_link, methods=["POST"]),
    Route("/tenants/{tenant_id}/keys", rotate_key, methods=["POST"]),
    Route("/tenants/{tenant_id}/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
    Route("/tenants/{tenant_id}/suspend", suspend, methods=["POST"]),
    Route("/tenants/{tenant_id}/resume", resume, methods=["POST"]),
]
