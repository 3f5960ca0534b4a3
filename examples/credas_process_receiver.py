"""A Credas process webhook receiver: on "The process is complete", pull the process's results.

    VERIHOOK_URL=http://localhost:8000 VERIHOOK_API_KEY=vh_... VERIHOOK_SIGNING_SECRET=whsec_... \
        python examples/credas_process_receiver.py          # listens on :9000

Create each process with `"webhook_url": "http://this-host:9000/updates?our-reference=..."`. The signing secret is
the tenant's (`GET /v1/tenants/{id}/secrets`): requests to a process's own URL are signed with it.
"""

from __future__ import annotations

import os
from typing import Any

from aiohttp import ClientSession, web

from verihook.receiver import InvalidSignature, verify

COMPLETE = 2

RESULTS = web.AppKey("results", dict[str, tuple[str | None, dict[str, Any]]])


def make_app(verihook_url: str, api_key: str, secret: str | None) -> web.Application:
    app = web.Application()
    app[RESULTS] = {}  # ProcessId -> (our reference from the query string, the pulled process)

    async def updates(request: web.Request) -> web.Response:
        body = await request.read()
        if secret:
            try:
                verify(secret, request.headers, body)
            except InvalidSignature as error:
                raise web.HTTPUnauthorized(text=str(error)) from None
        notice: dict[str, Any] = await request.json()
        if notice["Status"] == COMPLETE:
            async with ClientSession() as http, http.get(
                f"{verihook_url}/v1/subjects/{notice['ProcessId']}",
                headers={"Authorization": f"Bearer {api_key}"},
            ) as answer:
                answer.raise_for_status()
                app[RESULTS][notice["ProcessId"]] = (request.query.get("our-reference"), await answer.json())
        return web.Response(status=200)

    app.router.add_post("/updates", updates)
    return app


if __name__ == "__main__":
    web.run_app(make_app(os.environ["VERIHOOK_URL"], os.environ["VERIHOOK_API_KEY"],
                         os.environ.get("VERIHOOK_SIGNING_SECRET")), port=int(os.environ.get("PORT", "9000")))
