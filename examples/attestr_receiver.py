"""An Attestr webhook receiver: check the Basic token, answer 200 at once, work afterwards.

    ATTESTR_TOKEN=... python examples/attestr_receiver.py      # listens on :9000

Attestr sends each event once and waits 5 s for a 200: acknowledge first, then process. Anything missed is
pulled with `GET /v1/subjects/{id}`.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import Any

from aiohttp import web

QUEUE = web.AppKey("queue", asyncio.Queue[dict[str, Any]])


def make_app(token: str) -> web.Application:
    app = web.Application()
    app[QUEUE] = asyncio.Queue()
    expected = f"Basic {token}".encode()

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise web.HTTPUnauthorized(text="bad token")
        payload: dict[str, Any] = await request.json()
        app[QUEUE].put_nowait(payload)  # processed by a worker of yours, after the 200
        return web.Response(status=200)

    app.router.add_post("/attestr", webhook)
    return app


if __name__ == "__main__":
    web.run_app(make_app(os.environ["ATTESTR_TOKEN"]), port=int(os.environ.get("PORT", "9000")))
