"""An Incode webhook receiver (FastAPI): its OAuth2 token URL, and the onboarding and watchlist URLs.

    CLIENT_ID=incode CLIENT_SECRET=... python examples/incode_receiver.py      # listens on :9000

Success for Incode is 200 with a JSON body (or 204). A retry is the very same request with the same
`webhook-id`, so a receiver that already handled it just answers again.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request

from verihook.receiver import ClientCredentials, Deduplicator
from verihook.receiver.fastapi import BearerRequired, token_endpoint

OK = {"success": True}


def make_app(client_id: str, client_secret: str) -> FastAPI:
    app = FastAPI()
    app.state.onboarding = {}  # interviewId -> newest onboardingStatus
    app.state.watchlist = []  # (interviewId, search_id) to fetch again
    app.state.duplicates = 0
    issuer = ClientCredentials(client_id, client_secret)
    app.state.issuer = issuer
    seen = Deduplicator()
    app.add_api_route("/oauth/token", token_endpoint(issuer), methods=["POST"])
    bearer = [Depends(BearerRequired(issuer))]  # every notification URL needs a token from /oauth/token

    def first_time(webhook_id: str) -> bool:
        if seen.claim(webhook_id):
            return True
        app.state.duplicates += 1
        return False

    @app.post("/incode/onboarding", dependencies=bearer)
    async def onboarding(request: Request, webhook_id: Annotated[str, Header()]) -> dict[str, bool]:
        notice: dict[str, Any] = await request.json()
        if first_time(webhook_id):
            app.state.onboarding[notice["interviewId"]] = notice["onboardingStatus"]
        return OK

    @app.post("/incode/watchlist", dependencies=bearer)
    async def watchlist(request: Request, webhook_id: Annotated[str, Header()]) -> dict[str, bool]:
        notice: dict[str, Any] = await request.json()
        if first_time(webhook_id):
            app.state.watchlist.append((notice["interviewId"], notice["search_id"]))
        return OK

    return app


if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "9000"))
    uvicorn.run(make_app(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]), port=port)
