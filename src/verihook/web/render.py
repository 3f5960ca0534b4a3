"""Pages from the Jinja2 templates, with the filters they use and the headers every page carries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse

from verihook.web.framing import content_security_policy

TEMPLATES = Path(__file__).parent / "templates"
# every asset comes from Verihook itself; forms post only here; no plugin, no base-URL change
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "form-action 'self'; base-uri 'none'; object-src 'none'")


def when(at: float | str | None) -> str:
    """A time as seconds since the epoch, or as a view holds it (RFC 3339), for people."""
    if at is None:
        return "-"
    moment = datetime.fromisoformat(at) if isinstance(at, str) else datetime.fromtimestamp(at, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f} %"


def milliseconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def build_environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, pretty_json=pretty_json, percent=percent, ms=milliseconds)
    return env


class Pages:
    def __init__(self) -> None:
        self.env = build_environment()

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("visitor", None)
        context.setdefault("notice", None)
        context.setdefault("nav", "")
        html = self.env.get_template(template).render(request=request, ui=request.scope.get("root_path", ""),
                                                       **context)
        response = HTMLResponse(html, status_code=status_code)
        response.headers["Content-Security-Policy"] = content_security_policy(request, CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # a portal link in the address bar stays here
        response.headers["Cache-Control"] = "no-store"
        return response
