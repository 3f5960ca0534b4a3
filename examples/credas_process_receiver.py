"""A Credas process webhook receiver (FastAPI): on "The process is complete", pull the process's results.

    VERIHOOK_URL=http://localhost:8000 VERIHOOK_API_KEY=vh_... VERIHOOK_SIGNING_SECRET=whsec_... \
        python examples/credas_process_receiver.py          # listens on :9000

Create each process with `"webhook_url": "http://this-host:9000/updates?our-reference=..."`. The signing secret is
the tenant's (`GET /v1/tenants/{id}/secrets`): requests to a process's own URL are signed with it. A notification
seen before (same `webhook-id`, a retry or a redelivery) is acknowledged and not processed again.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate `Depends(verified)`, a local name.
import os
from typing import Annotated, Any

from aiohttp import ClientSession
from fastapi import Depends, FastAPI, Request

from verihook.receiver import Deduplicator, Webhook
from verihook.receiver.fastapi import WebhookVerifier

COMPLETE = 2


def make_app(verihook_url: str, api_key: str, secret: str) -> FastAPI:
    app = FastAPI()
    app.state.results = {}  # ProcessId -> (our reference from the query string, the pulled process)
    app.state.duplicates = 0
    verified = WebhookVerifier(secret, deduplicator=Deduplicator())

    @app.post("/updates")
    async def updates(request: Request, webhook: Annotated[Webhook, Depends(verified)]) -> dict[str, bool]:
        if webhook.duplicate:
            app.state.duplicates += 1
            return {"received": True}
        notice: dict[str, Any] = webhook.json()
        if notice["Status"] == COMPLETE:  # an exception here forgets the webhook-id: the retry is processed
            async with ClientSession() as http, http.get(
                f"{verihook_url}/v1/subjects/{notice['ProcessId']}",
                headers={"Authorization": f"Bearer {api_key}"},
            ) as answer:
                answer.raise_for_status()
                app.state.results[notice["ProcessId"]] = (request.query_params.get("our-reference"),
                                                          await answer.json())
        return {"received": True}

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(os.environ["VERIHOOK_URL"], os.environ["VERIHOOK_API_KEY"],
                         os.environ["VERIHOOK_SIGNING_SECRET"]), port=int(os.environ.get("PORT", "9000")))
