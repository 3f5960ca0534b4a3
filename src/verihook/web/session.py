"""Who is looking at the dashboard: the session cookie, its CSRF token, and the forms' bodies."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from verihook.errors import Forbidden, Unauthorized
from verihook.service import Caller, Service
from verihook.service.portal import Session
from verihook.web.framing import SameSite, cookie_samesite, is_secure

SESSION_COOKIE = "verihook_session"
LOGIN_CSRF_COOKIE = "verihook_login_csrf"  # the login form's double-submit token (there is no session yet)
MAX_FORM_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Visitor:
    caller: Caller
    session: Session

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def is_admin(self) -> bool:
        return self.caller.is_admin

    @property
    def scope(self) -> str:
        """What the session may see, in words, for the page header."""
        tenant = self.caller.tenant
        if tenant is None:
            return "Admin: every tenant"
        children = len(self.caller.visible or ()) - 1
        below = f" and its {children} child tenant{'s' if children != 1 else ''}" if children > 0 else ""
        return f"Tenant {tenant.name} ({tenant.id}){below}"


class Form:
    """An application/x-www-form-urlencoded body."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def get(self, name: str, default: str = "") -> str:
        return next((value for key, value in self.pairs if key == name), default)

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self.pairs)


async def read_form(request: Request) -> Form:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Forbidden("the form is too large")
    return Form(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def visitor(request: Request) -> Visitor:
    """The logged-in visitor; raises Unauthorized (the app sends the browser to the login page)."""
    service: Service = request.app.state.service
    caller, session = await service.portal.resume(request.cookies.get(SESSION_COOKIE))
    return Visitor(caller, session)


async def posted(request: Request) -> tuple[Visitor, Form]:
    """The visitor and the form of a POST whose CSRF token matches the session's."""
    who = await visitor(request)
    form = await read_form(request)
    if not hmac.compare_digest(form.get("csrf"), who.csrf):
        raise Forbidden("the form's CSRF token does not match this session: reload the page and try again")
    return who, form


def login_csrf(request: Request) -> str:
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def check_login_csrf(request: Request, form: Form) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(form.get("csrf"), cookie):
        raise Unauthorized("the login form expired: try again")


def _path(request: Request) -> str:
    """Where the dashboard is mounted (/ui, below any prefix the server is given): the cookies stay there."""
    return str(request.scope.get("root_path") or "/ui")


def set_login_csrf(response: Response, request: Request, token: str) -> None:
    _set_cookie(response, request, LOGIN_CSRF_COOKIE, token, 3600, "strict")


def set_session(response: Response, request: Request, session: Session, now: float) -> None:
    _set_cookie(response, request, SESSION_COOKIE, session.token, max(1, int(session.expires_at - now)), "lax")
    _set_cookie(response, request, LOGIN_CSRF_COOKIE, "", 0, "strict")


def clear_session(response: Response, request: Request) -> None:
    _set_cookie(response, request, SESSION_COOKIE, "", 0, "lax")


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int,
                otherwise: SameSite) -> None:
    """An HttpOnly cookie of the dashboard's path, SameSite `otherwise` unless another site may embed the page
    (verihook.web.framing); max_age 0 deletes it, with the attributes it was set with (a partitioned cookie is
    deleted only so)."""
    samesite, partitioned = cookie_samesite(request, otherwise)
    response.set_cookie(name, value, max_age=max_age, expires=0 if max_age == 0 else None, path=_path(request),
                        httponly=True, samesite=samesite, secure=is_secure(request))
    if partitioned:  # http.cookies knows the attribute only from Python 3.14
        header, cookie = response.raw_headers[-1]
        response.raw_headers[-1] = (header, cookie + b"; Partitioned")
