"""FastAPI dependencies for a webhook receiver: a verified webhook, a bearer token check, a token endpoint.

    verified = WebhookVerifier(os.environ["VERIHOOK_SIGNING_SECRET"], deduplicator=Deduplicator())
    issuer = ClientCredentials("validas", os.environ["CLIENT_SECRET"])

    app.add_api_route("/oauth/token", token_endpoint(issuer), methods=["POST"])

    @app.post("/webhooks", dependencies=[Depends(BearerRequired(issuer))])
    async def webhooks(webhook: Annotated[Webhook, Depends(verified)]) -> dict[str, bool]:
        if not webhook.duplicate:
            handle(webhook.json())
        return {"received": True}

Make the verifier a module-level name as above: under `from __future__ import annotations` FastAPI resolves
`Depends(verified)` in the module's globals, and a local name there makes the parameter a 422 query field.
A bad or stale signature answers 401 before the handler runs. With a deduplicator, `webhook.duplicate` is True
for an id seen before, and an exception raised by the handler forgets the id again, so the retry is processed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response

from verihook.receiver.dedup import Deduplicator
from verihook.receiver.tokens import ClientCredentials, basic_token_matches
from verihook.receiver.webhook import DEFAULT_TOLERANCE_S, InvalidSignature, Webhook, verify_webhook

__all__ = ["BasicTokenRequired", "BearerRequired", "WebhookVerifier", "token_endpoint"]


class WebhookVerifier:
    """A dependency answering the request's verified `Webhook`, or 401 with what is wrong."""

    def __init__(self, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
                 deduplicator: Deduplicator | None = None) -> None:
        self.secret = secret
        self.tolerance_s = tolerance_s
        self.deduplicator = deduplicator

    async def __call__(self, request: Request) -> AsyncIterator[Webhook]:
        body = await request.body()
        try:
            webhook = verify_webhook(self.secret, request.headers, body, tolerance_s=self.tolerance_s)
        except InvalidSignature as error:
            raise HTTPException(401, f"invalid signature: {error}") from None
        if self.deduplicator is None:
            yield webhook
            return
        with self.deduplicator.once(webhook.id) as first:
            yield dataclasses.replace(webhook, duplicate=not first)


class BearerRequired:
    """A dependency refusing (401, `WWW-Authenticate: Bearer`) a request without a token the issuer gave."""

    def __init__(self, issuer: ClientCredentials) -> None:
        self.issuer = issuer

    async def __call__(self, request: Request) -> None:
        if not self.issuer.bearer_valid(request.headers.get("authorization")):
            raise HTTPException(401, "a valid bearer token is required",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class BasicTokenRequired:
    """A dependency refusing (401) a request whose Authorization is not `Basic <token>` (Attestr's scheme)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def __call__(self, request: Request) -> None:
        if not basic_token_matches(request.headers.get("authorization"), self.token):
            raise HTTPException(401, "wrong or missing token", headers={"WWW-Authenticate": "Basic"})


def token_endpoint(issuer: ClientCredentials) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """A route handler for the OAuth2 token URL: `app.add_api_route(path, token_endpoint(issuer), methods=["POST"])`."""

    async def token(request: Request) -> Response:
        answer = issuer.issue(request.headers.get("authorization"), await request.body())
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    return token
