"""Errors raised by the service layer; the API turns each into application/problem+json.

VerihookError
 +-- InvalidInput      422  a field is wrong (names the field)
 +-- NotFound          404  no such resource, or not visible to the caller
 +-- Forbidden         403  the caller may not do this
 |    +-- Suspended    403  the tenant (or an ancestor) is suspended
 +-- Conflict          409  the resource exists already
 +-- Unauthorized      401  no or unknown API key
"""

from __future__ import annotations


class VerihookError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(VerihookError):
    status = 422
    title = "Invalid input"


class NotFound(VerihookError):
    status = 404
    title = "Not found"


class Forbidden(VerihookError):
    status = 403
    title = "Forbidden"


class Suspended(Forbidden):
    title = "Tenant suspended"


class Conflict(VerihookError):
    status = 409
    title = "Conflict"


class Unauthorized(VerihookError):
    status = 401
    title = "Unauthorized"


class UnusableSetting(ValueError):
    """A stored setting that cannot be used to send (a signing secret that does not decode, ...). Its message
    names what is wrong and never quotes the value, so an attempt record may carry it."""
