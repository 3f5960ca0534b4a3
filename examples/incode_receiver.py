"""An Incode webhook receiver: its OAuth2 token endpoint, and the onboarding and watchlist URLs.

    CLIENT_ID=incode CLIENT_SECRET=... python examples/incode_receiver.py      # listens on :9000

Success for Incode is 200 with a JSON body (or 204). A retry is the very same request with the same
`webhook-id`, so a receiver that already handled it just answers again.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import time
from typing import Any

from aiohttp import web

TOKEN_LIFETIME_S = 3600
OK = {"success": True}

TOKENS = web.AppKey("tokens", dict[str, float])
SEEN = web.AppKey("seen", set[str | None])
ONBOARDING = web.AppKey("onboarding", dict[str, str])
WATCHLIST = web.AppKey("watchlist", list[tuple[str, str]])


def make_app(client_id: str, client_secret: str) -> web.Application:
    app = web.Application()
    app[TOKENS] = {}  # access token -> expiry
    app[SEEN] = set()  # webhook-ids handled already
    app[ONBOARDING] = {}  # interviewId -> newest onboardingStatus
    app[WATCHLIST] = []  # (interviewId, search_id) to fetch again
    expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected) \
                or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "invalid_client"}, status=401)
        access_token = secrets.token_urlsafe(32)
        app[TOKENS][access_token] = time.time() + TOKEN_LIFETIME_S
        return web.json_response({"access_token": access_token, "expires_in": TOKEN_LIFETIME_S})

    def authorized(request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return app[TOKENS].get(bearer, 0) > time.time()

    async def onboarding(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"success": False}, status=401)
        notice: dict[str, Any] = await request.json()
        if request.headers.get("webhook-id") not in app[SEEN]:
            app[SEEN].add(request.headers.get("webhook-id"))
            app[ONBOARDING][notice["interviewId"]] = notice["onboardingStatus"]
        return web.json_response(OK)

    async def watchlist(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"success": False}, status=401)
        notice: dict[str, Any] = await request.json()
        if request.headers.get("webhook-id") not in app[SEEN]:
            app[SEEN].add(request.headers.get("webhook-id"))
            app[WATCHLIST].append((notice["interviewId"], notice["search_id"]))
        return web.json_response(OK)

    app.router.add_post("/oauth/token", token)
    app.router.add_post("/incode/onboarding", onboarding)
    app.router.add_post("/incode/watchlist", watchlist)
    return app


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "9000"))
    web.run_app(make_app(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]), port=port)
