"""The event log (filters and paging), an event with every attempt's request and response, redelivery."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from verihook.errors import InvalidInput
from verihook.service import Service
from verihook.service.views import EventDetailOut, EventPage
from verihook.web import forms
from verihook.web.render import Pages
from verihook.web.session import Form, posted, visitor

PAGE_SIZE = 25
FILTERS = ("type", "subject", "status", "window", "endpoint")
# paging is by keyset cursor, newest first; the cursors of the pages passed through ride along in the links
# (`back`), so "Newer events" returns through them; beyond this many it returns to the newest page
TRAIL = 50


def paging_links(kept: dict[str, str], cursor: str, back: list[str], next_cursor: str | None
                 ) -> tuple[str | None, str | None]:
    """(older, newer): the query strings of the next older page and of the page before this one, if any."""
    trail = ([*back, cursor] if cursor else back)[-TRAIL:]
    older = f"?{urlencode({**kept, 'cursor': next_cursor, 'back': trail}, doseq=True)}" if next_cursor else None
    if not cursor:
        return older, None
    if not back:
        return older, f"?{urlencode(kept)}" if kept else ""
    return older, f"?{urlencode({**kept, 'cursor': back[-1], 'back': back[:-1]}, doseq=True)}"


async def event_log(request: Request) -> Response:
    service: Service = request.app.state.service
    pages: Pages = request.app.state.pages
    who = await visitor(request)
    query = Form(list(request.query_params.multi_items()))
    chosen = {name: query.get(name) for name in FILTERS}
    try:
        where = forms.event_filter(query, service.ctx.clock())
        page = await service.events.list(who.caller, where, PAGE_SIZE, query.get("cursor") or None)
    except InvalidInput as error:
        return pages.render(request, "events.html", 422, visitor=who, nav="events", events=[],
                            chosen=chosen, error=error, older=None, newer=None, first_page=True, filtered="")
    shown = EventPage.of_events(page, await service.events.statuses([e.id for e in page.items]))  # as the API's
    kept = {k: v for k, v in chosen.items() if v}
    filtered = "?" + urlencode(kept) if kept else ""
    older, newer = paging_links(kept, query.get("cursor"), query.getlist("back"), page.next_cursor)
    return pages.render(request, "events.html", visitor=who, nav="events", events=shown.data, chosen=chosen,
                        error=None, older=older, newer=newer, first_page=not query.get("cursor"), filtered=filtered)


async def event_detail(request: Request) -> Response:
    service: Service = request.app.state.service
    pages: Pages = request.app.state.pages
    who = await visitor(request)
    detail = await service.events.get(who.caller, request.path_params["event_id"])
    bodies = {d.id: await service.requests.body(detail.event, d) for d in detail.deliveries}
    notice = "A new delivery cycle started for every destination." if request.query_params.get("done") else None
    event = EventDetailOut.of(detail.event, detail.deliveries)  # as GET /v1/events/{id}: URL passwords redacted
    return pages.render(request, "event_detail.html", visitor=who, nav="events", event=event, bodies=bodies,
                        notice=notice)


async def redeliver(request: Request) -> Response:
    service: Service = request.app.state.service
    who, _ = await posted(request)
    event_id = request.path_params["event_id"]
    await service.events.redeliver(who.caller, event_id)
    return RedirectResponse(f"{request.scope['root_path']}/events/{event_id}?done=redelivered", 303)


routes = [
    Route("/events", event_log, methods=["GET"]),
    Route("/events/{event_id}", event_detail, methods=["GET"]),
    Route("/events/{event_id}/redeliver", redeliver, methods=["POST"]),
]
