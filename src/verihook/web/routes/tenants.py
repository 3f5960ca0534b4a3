"""The overview (charts), subjects with their status history, and a reseller's child portals."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from verihook.model import DeliveryStatus
from verihook.service import Service
from verihook.service.stats import totals_of, window_hours
from verihook.service.views import SubjectDetailOut, SubjectOut, SubjectPage
from verihook.web.charts import overview_charts
from verihook.web.render import Pages
from verihook.web.session import posted, visitor


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


async def _children_page(request: Request, link: str | None = None, link_for: str | None = None) -> Response:
    service: Service = request.app.state.service
    pages: Pages = request.app.state.pages
    who = await visitor(request)
    children = await service.portal.children(who.caller)
    return pages.render(request, "tenants.html", visitor=who, nav="tenants", children=children, link=link,
                        link_for=link_for)


async def child_portals(request: Request) -> Response:
    return await _children_page(request)


async def make_portal_link(request: Request) -> Response:
    service: Service = request.app.state.service
    who, _ = await posted(request)
    link = await service.portal.create_link(who.caller, request.path_params["tenant_id"])
    url = f"{request.url.scheme}://{request.url.netloc}{request.scope['root_path']}/portal/{link.token}"
    return await _children_page(request, link=url, link_for=link.tenant_id)


routes = [
    Route("/", overview, methods=["GET"]),
    Route("/subjects", subjects, methods=["GET"]),
    Route("/subjects/{subject_id}", subject_detail, methods=["GET"]),
    Route("/tenants", child_portals, methods=["GET"]),
    Route("/tenants/{tenant_id}/portal-link", make_portal_link, methods=["POST"]),
]
