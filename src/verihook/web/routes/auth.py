"""Logging in with an API key, out again, and opening a one-time portal link."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from verihook.errors import Unauthorized
from verihook.service import Service
from verihook.service.portal import PortalLinkRefused
from verihook.web.render import Pages
from verihook.web.session import (
    check_login_csrf,
    clear_session,
    login_csrf,
    posted,
    read_form,
    set_login_csrf,
    set_session,
)


def _safe_next(target: str, ui: str) -> str:
    """Only a path inside the dashboard: never another site."""
    return target if target.startswith(ui + "/") and not target.startswith("//") else ui + "/"


def _login_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    pages: Pages = request.app.state.pages
    token = login_csrf(request)
    response = pages.render(request, "login.html", status_code, csrf=token, error=error,
                            next=request.query_params.get("next", ""))
    set_login_csrf(response, request, token)
    return response


async def login_form(request: Request) -> Response:
    return _login_page(request)


async def login(request: Request) -> Response:
    service: Service = request.app.state.service
    form = await read_form(request)
    try:
        check_login_csrf(request, form)
        session = await service.portal.login(form.get("api_key"))
    except Unauthorized as error:
        return _login_page(request, error.detail, status_code=401)
    ui = request.scope.get("root_path", "")
    response = RedirectResponse(_safe_next(form.get("next"), ui), status_code=303)
    set_session(response, request, session, service.ctx.clock())
    return response


async def logout(request: Request) -> Response:
    await posted(request)
    response = RedirectResponse(request.scope.get("root_path", "") + "/login", status_code=303)
    clear_session(response, request)
    return response


async def open_portal_link(request: Request) -> Response:
    service: Service = request.app.state.service
    pages: Pages = request.app.state.pages
    try:
        session = await service.portal.open_link(request.path_params["token"])
    except PortalLinkRefused as refused:
        return pages.render(request, "portal_refused.html", 410, reason=str(refused))
    response = RedirectResponse(request.scope.get("root_path", "") + "/", status_code=303)
    set_session(response, request, session, service.ctx.clock())
    return response


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/portal/{token}", open_portal_link, methods=["GET"]),
]
