"""Every error answers application/problem+json (RFC 9457) with a `detail` a person can act on."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verihook import limits
from verihook.errors import VerihookError
from verihook.service.health import is_store_unavailable

log = logging.getLogger("verihook.api")

PROBLEM_TYPE = "application/problem+json"
MAX_URL_BYTES = 8192  # a request's path and query string


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_TYPE)


_SOURCES = ("body", "query", "path", "header")
_NO_BODY = object()
LIMIT_ERROR = "json_limit"  # the type of the error api/schemas.Strict raises for a value over verihook.limits


def _field_path(location: tuple[Any, ...], body: Any = _NO_BODY, missing: bool = False) -> str:
    """`auth.token`, `events[1].type`: the location as the client wrote it. Walking the request body, a part that
    does not index it is a union member's tag that pydantic adds (`auth.bearer.token`) and is left out; only a
    missing field's own name is kept. An error about the whole body names `body`."""
    from_body = bool(location) and location[0] == "body"
    parts = [p for p in location if p not in _SOURCES]
    current = body if from_body else _NO_BODY
    path = ""
    for index, part in enumerate(parts):
        if current is not _NO_BODY:
            indexes = (isinstance(current, dict) and part in current) or (
                isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current))
            if not indexes and not (missing and index == len(parts) - 1):
                continue
            current = current[part] if indexes else _NO_BODY
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or ("body" if from_body else "")


def _describe(error: dict[str, Any], body: Any = _NO_BODY) -> tuple[str, str]:
    kind = error.get("type", "")
    field = _field_path(tuple(error.get("loc", ())), body, missing=kind == "missing")
    if kind == "json_invalid":
        return "body", f"the body is not valid JSON: {error.get('ctx', {}).get('error', error.get('msg'))}"
    if kind == LIMIT_ERROR:  # raised by a model for a value inside it: `where` is from that model
        where = str(error.get("ctx", {}).get("where", ""))
        inside = "" if field == "body" else field
        where = (f"{inside}{where}" if where.startswith("[") else limits.join(inside, where)) or "body"
        return where, f"{where}: {error.get('msg', 'invalid')}"
    if kind == "extra_forbidden":
        return field, f"unknown field {field!r}"
    if kind == "missing":
        return field, f"{field} is required"
    return field, f"{field}: {error.get('msg', 'invalid')}" if field else error.get("msg", "invalid input")


def install(app: FastAPI) -> None:
    @app.exception_handler(VerihookError)
    async def verihook_error(_: Request, error: VerihookError) -> Response:
        extra = {"field": error.field} if error.field else {}
        return problem(error.status, error.title, error.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> Response:
        described = [_describe(e, error.body) for e in error.errors()]
        field, detail = described[0]
        errors = [{"field": f, "detail": d} for f, d in described]
        return problem(422, "Invalid input", detail, field=field, errors=errors)

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, error: Exception) -> Response:
        if is_store_unavailable(error):
            log.warning("store unavailable: %s", error)
            response = problem(503, "Service unavailable", "the database cannot be reached right now; try again")
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unexpected error", exc_info=error)
        return problem(500, "Internal error", "an unexpected error happened; it has been logged")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        detail = error.detail if isinstance(error.detail, str) else "request failed"
        if error.status_code == 404 and detail == "Not Found":
            detail = "no such route"
        if error.status_code == 405:
            detail = "this method is not allowed on this route"
        response = problem(error.status_code, "Error", detail)
        response.headers.update(error.headers or {})
        if error.status_code == 405:  # Allow names the methods of every route on this path (RFC 9110)
            response.headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        return response


# What /openapi.json declares for every operation besides its own answer: each error is a problem document.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem", "type": "object", "required": ["type", "title", "status", "detail"],
    "description": "RFC 9457 problem details; `field` names the input at fault where there is one.",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "field": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["field", "detail"], "properties": {
            "field": {"type": "string"}, "detail": {"type": "string"}}}},
    },
}
PROBLEM_STATUSES = {
    "401": "No API key, or an unknown one", "403": "The key may not do this", "404": "No such resource, or not "
    "visible to this key", "409": "The resource exists already", "413": "The request body is over the limit",
    "414": "The request URL is over 8 KiB",
    "422": "Invalid input: `field` names it", "503": "The store cannot be reached right now (Retry-After)",
    "default": "Any other error, as a problem",
}


def declare_problems(app: FastAPI) -> None:
    """Make /openapi.json declare the problem answers of every operation (additive: routes keep their own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        content = {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                for status, description in PROBLEM_STATUSES.items():
                    if status not in responses or status == "422":  # FastAPI's own 422 is not what is sent
                        responses[status] = {"description": description, "content": content}
                if path == "/metrics":
                    responses["200"] = {"description": "Prometheus metrics",
                                        "content": {"text/plain": {"schema": {"type": "string"}}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(request: Request) -> set[str]:
    allowed: set[str] = set()
    for route in request.app.router.routes:
        methods = getattr(route, "methods", None)
        if methods and route.matches(request.scope)[0] is not Match.NONE:
            allowed |= methods
    return allowed


class JsonBodies:
    """Every request body of the API is JSON: a missing or other Content-Type is read as application/json,
    so a client that forgets the header gets its JSON parsed (or a clear 'not valid JSON')."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PATCH", "PUT"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


class UrlLimit:
    """Refuses a request whose path and query are over `max_bytes` with a 414 problem, before routing."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_URL_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope.get("raw_path") or b"") + len(scope["query_string"]) > self.max_bytes:
            response = problem(414, "URI too long", f"the request's path and query are over {self.max_bytes} bytes",
                               field="url")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413 before the app sees them: by the declared Content-Length,
    else (a chunked body) by reading the body here, up to the limit, and handing it on whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            if length > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive, self.max_bytes)
        except _TooLarge:
            await self._refuse(scope, receive, send)
            return
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "Payload too large", f"the request body is over the limit of {self.max_bytes} bytes",
                           field="body")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def _content_length(scope: Scope) -> int | None:
    """The declared length, when it frames the body (Transfer-Encoding overrides it)."""
    length = None
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length" and value.isdigit():
            length = int(value)
    return length


async def _read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body, or None when the client went away; raises _TooLarge once it passes `max_bytes`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read as one message, then defers to the server's."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
