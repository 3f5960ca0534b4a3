"""WSGI helpers for a webhook receiver (Flask, Django, any WSGI framework, or none).

    def app(environ, start_response):            # a plain WSGI application
        webhook = environ["verihook.webhook"]    # verified by the middleware
        ...

    application = WebhookMiddleware(app, os.environ["VERIHOOK_SIGNING_SECRET"], deduplicator=Deduplicator())

A bad or stale signature answers 401 (JSON) without calling the application. In a framework with its own request
object, call `verify_webhook(secret, request.headers, request.get_data())` instead. `token_app(issuer)` is a WSGI
application for an OAuth2 token URL, and `bearer_valid(issuer, environ)` checks a notification's token.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from verihook.receiver.dedup import Deduplicator
from verihook.receiver.tokens import MAX_FORM_BYTES, ClientCredentials
from verihook.receiver.webhook import DEFAULT_TOLERANCE_S, InvalidSignature, verify_webhook

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["WEBHOOK_KEY", "WebhookMiddleware", "bearer_valid", "headers_of", "read_body", "token_app"]

WEBHOOK_KEY = "verihook.webhook"
MAX_BODY_BYTES = 16 * 1024 * 1024
_STATUS_TEXT = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 413: "413 Content Too Large"}


def headers_of(environ: WSGIEnvironment) -> dict[str, str]:
    """The request's headers, names lower-cased (`HTTP_WEBHOOK_ID` -> `webhook-id`)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
               if key.startswith("HTTP_") and isinstance(value, str)}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def read_body(environ: WSGIEnvironment, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body (at most `limit` bytes, else ValueError); `wsgi.input` is replaced so the app can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise ValueError(f"the body is larger than {limit} bytes")
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _json(start_response: StartResponse, status: int, body: dict[str, Any],
          headers: dict[str, str] | None = None) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(_STATUS_TEXT.get(status, f"{status} Error"),
                   [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                    *(headers or {}).items()])
    return [payload]


class WebhookMiddleware:
    """Verify every request's signature, put the `Webhook` in `environ["verihook.webhook"]`, call the app."""

    def __init__(self, app: WSGIApplication, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
                 deduplicator: Deduplicator | None = None) -> None:
        self.app = app
        self.secret = secret
        self.tolerance_s = tolerance_s
        self.deduplicator = deduplicator

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            body = read_body(environ)
        except ValueError as error:
            return _json(start_response, 413, {"error": str(error)})
        try:
            webhook = verify_webhook(self.secret, headers_of(environ), body, tolerance_s=self.tolerance_s)
        except InvalidSignature as error:
            return _json(start_response, 401, {"error": f"invalid signature: {error}"})
        if self.deduplicator is None:
            environ[WEBHOOK_KEY] = webhook
            return self.app(environ, start_response)
        with self.deduplicator.once(webhook.id) as first:
            environ[WEBHOOK_KEY] = dataclasses.replace(webhook, duplicate=not first)
            return self.app(environ, start_response)


def bearer_valid(issuer: ClientCredentials, environ: WSGIEnvironment) -> bool:
    return issuer.bearer_valid(environ.get("HTTP_AUTHORIZATION"))


def token_app(issuer: ClientCredentials) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    """A WSGI application answering OAuth2 client-credentials token requests (POST only)."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _json(start_response, 400, {"error": "invalid_request", "error_description": "use POST"})
        try:
            body = read_body(environ, limit=MAX_FORM_BYTES)
        except ValueError as error:
            return _json(start_response, 413, {"error": "invalid_request", "error_description": str(error)})
        answer = issuer.issue(environ.get("HTTP_AUTHORIZATION"), body)
        return _json(start_response, answer.status, answer.body, answer.headers)

    return app

