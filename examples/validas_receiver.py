"""A vali-Das webhook receiver (FastAPI): HTTPS, protected by OAuth2 client credentials, with its own token URL.

    CLIENT_ID=validas CLIENT_SECRET=... TLS_CERT=server.pem TLS_KEY=server.key \
        python examples/validas_receiver.py     # https://this-host:9443/oauth/token and /validas

Give Verihook (or `POST /validas/v1/webhook/settings`) `"auth": {"type": "oauth2", "token_url":
"https://this-host:9443/oauth/token", "client_id": ..., "client_secret": ...}`.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import Depends, FastAPI, Request

from verihook.receiver import ClientCredentials
from verihook.receiver.fastapi import BearerRequired, token_endpoint


def make_app(client_id: str, client_secret: str) -> FastAPI:
    app = FastAPI()
    app.state.validations = {}  # validation_id -> (time, status) of the newest change
    issuer = ClientCredentials(client_id, client_secret)
    app.state.issuer = issuer
    app.add_api_route("/oauth/token", token_endpoint(issuer), methods=["POST"])

    @app.post("/validas", dependencies=[Depends(BearerRequired(issuer))])
    async def webhook(request: Request) -> dict[str, bool]:
        change: dict[str, Any] = await request.json()
        newest = app.state.validations.get(change["validation_id"])
        if newest is None or newest[0] <= change["time"]:  # RFC 3339 UTC times sort as text
            app.state.validations[change["validation_id"]] = (change["time"], change["status"])
        return {"received": True}

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]), port=9443,
                ssl_certfile=os.environ["TLS_CERT"], ssl_keyfile=os.environ["TLS_KEY"])
