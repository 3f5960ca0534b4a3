"""A Credas process actor webhook receiver: follow each invite, and flag the bounced ones.

    VERIHOOK_SIGNING_SECRET=whsec_... python examples/credas_actor_receiver.py     # listens on :9000

Updates may arrive out of order: `verihook-sequence` (per process) tells which one is the newest.
"""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web

from verihook.receiver import InvalidSignature, verify

BOUNCED = 5

INVITES = web.AppKey("invites", dict[int, tuple[int, dict[str, Any]]])
BOUNCED_INVITES = web.AppKey("bounced", set[tuple[str, str]])


def make_app(secret: str | None) -> web.Application:
    app = web.Application()
    app[INVITES] = {}  # processActorId -> (sequence, the newest update)
    app[BOUNCED_INVITES] = set()  # (entityId, processId) whose contact details need checking

    async def process_actors(request: web.Request) -> web.Response:
        body = await request.read()
        if secret:
            try:
                verify(secret, request.headers, body)
            except InvalidSignature as error:
                raise web.HTTPUnauthorized(text=str(error)) from None
        update: dict[str, Any] = await request.json()
        sequence = int(request.headers.get("verihook-sequence", "0"))
        known = app[INVITES].get(update["processActorId"])
        if known is None or known[0] < sequence:
            app[INVITES][update["processActorId"]] = (sequence, update)
        if BOUNCED in (update["smsStatus"], update["emailStatus"]):
            app[BOUNCED_INVITES].add((update["entityId"], update["processId"]))
        return web.Response(status=200)

    app.router.add_post("/process-actors", process_actors)
    return app


if __name__ == "__main__":
    web.run_app(make_app(os.environ.get("VERIHOOK_SIGNING_SECRET")), port=int(os.environ.get("PORT", "9000")))
