"""The dashboard as an app of its own, mounted by the API at /ui: pages, static assets, error pages.

It holds no state but what it is given: the service (the same one the API calls) and its templates.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from verihook.errors import Unauthorized, VerihookError
from verihook.service import Service
from verihook.web.render import Pages
from verihook.web.routes import auth, endpoints, events, tenants
from verihook.web.session import clear_session

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("verihook.web")


def create_dashboard(service: Service) -> Starlette:
    app = Starlette(routes=[*auth.routes, *endpoints.routes, *events.routes, *tenants.routes,
                            Mount("/static", StaticFiles(directory=STATIC), name="static")])
    app.state.service = service
    app.state.pages = Pages()
    app.state.frame_ancestors = service.ctx.settings.portal_frame_ancestors

    async def to_login(request: Request, _: Exception) -> Response:
        ui = request.scope.get("root_path", "")
        target = request.url.path if request.method == "GET" else ui + "/"
        response = RedirectResponse(f"{ui}/login?next={quote(target)}", status_code=303)
        clear_session(response, request)
        return response

    async def error_page(request: Request, error: Exception) -> Response:
        pages: Pages = request.app.state.pages
        if isinstance(error, VerihookError):
            return pages.render(request, "error.html", error.status, title=error.title, detail=error.detail)
        if isinstance(error, HTTPException):
            detail = "There is no such page." if error.status_code == 404 else str(error.detail)
            return pages.render(request, "error.html", error.status_code, title="Not found"
                                if error.status_code == 404 else "Error", detail=detail)
        log.exception("dashboard error", exc_info=error)
        return pages.render(request, "error.html", 500, title="Internal error",
                            detail="An unexpected error happened; it has been logged.")

    app.add_exception_handler(Unauthorized, to_login)
    app.add_exception_handler(VerihookError, error_page)
    app.add_exception_handler(HTTPException, error_page)
    app.add_exception_handler(Exception, error_page)
    return app
