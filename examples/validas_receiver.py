"""A vali-Das webhook receiver: HTTPS, protected by OAuth2 client credentials, with its own token endpoint.

    CLIENT_ID=validas CLIENT_SECRET=... TLS_CERT=server.pem TLS_KEY=server.key \
        python examples/validas_receiver.py     # https://this-host:9443/oauth/token and /validas

Give Verihook `"auth": {"type": "oauth2", "token_url": "https://this-host:9443/oauth/token", "client_id": ...,
"client_secret": ...}`.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import ssl
import time
from typing import Any

from aiohttp import web

TOKEN_LIFETIME_S = 3600

TOKENS = web.AppKey("tokens", dict[str, float])
VALIDATIONS = web.AppKey("validations", dict[str, tuple[str, str]])


def make_app(client_id: str, client_secret: str) -> web.Application:
    app = web.Application()
    app[TOKENS] = {}  # access token -> expiry
    app[VALIDATIONS] = {}  # validation_id -> (time, status) of the newest change
    expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        access_token = secrets.token_urlsafe(32)
        app[TOKENS][access_token] = time.time() + TOKEN_LIFETIME_S
        return web.json_response({"access_token": access_token, "token_type": "Bearer",
                                  "expires_in": TOKEN_LIFETIME_S})

    async def webhook(request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if app[TOKENS].get(bearer, 0) < time.time():
            return web.json_response({"error": "invalid_token"}, status=401)
        change: dict[str, Any] = await request.json()
        newest = app[VALIDATIONS].get(change["validation_id"])
        if newest is None or newest[0] <= change["time"]:  # RFC 3339 UTC times sort as text
            app[VALIDATIONS][change["validation_id"]] = (change["time"], change["status"])
        return web.json_response({"received": True})

    app.router.add_post("/oauth/token", token)
    app.router.add_post("/validas", webhook)
    return app


if __name__ == "__main__":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(os.environ["TLS_CERT"], os.environ["TLS_KEY"])
    web.run_app(make_app(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]), port=9443, ssl_context=context)
