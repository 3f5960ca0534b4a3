"""Who may show the dashboard in an iframe, and the cookie attributes that lets a session work there.

Without `Settings.portal_frame_ancestors` the pages name no frame ancestors and the cookies are SameSite Lax
(session) and Strict (login form): an iframe works only under the dashboard's own site. With it, pages answer
`frame-ancestors 'self' <origins>`, and over HTTPS the cookies are `SameSite=None; Secure; Partitioned`, which a
cross-site iframe keeps in current browsers (CHIPS: the cookie is kept per top-level site).
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request

SameSite = Literal["lax", "strict", "none"]


def frame_ancestors(request: Request) -> tuple[str, ...]:
    app = request.scope.get("app")
    state = getattr(app, "state", None)
    return tuple(getattr(state, "frame_ancestors", ()) or ())


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def embeddable_cookies(request: Request) -> bool:
    """Whether the cookies set for this request must work inside another site's iframe."""
    return bool(frame_ancestors(request)) and is_secure(request)


def cookie_samesite(request: Request, otherwise: SameSite) -> tuple[SameSite, bool]:
    """(SameSite, Partitioned) for a cookie whose SameSite is `otherwise` where no other site embeds the page."""
    return ("none", True) if embeddable_cookies(request) else (otherwise, False)


def content_security_policy(request: Request, policy: str) -> str:
    origins = frame_ancestors(request)
    return f"{policy}; frame-ancestors 'self' {' '.join(origins)}" if origins else policy
