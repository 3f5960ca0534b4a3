"""Request bodies (strict: unknown fields and wrong types are refused). The response bodies are the service's views
(verihook.service.views)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

from verihook import limits
from verihook.api.problems import LIMIT_ERROR
from verihook.service import EventInput
from verihook.service.endpoint_health import MAX_FAILING_FOR_S, MAX_MIN_FAILURES, MAX_RATE_LIMIT_PER_S
from verihook.service.events import MAX_BATCH

MAX_TYPE_LENGTH = 200
MAX_IDEMPOTENCY_KEY_LENGTH = 256


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def within_limits(cls, value: Any) -> Any:
        """Every value is held to verihook.limits (depth, integers in 64 bits, finite numbers, valid Unicode, no NUL)
        before pydantic reads it, naming where it is; a field holding a model is left to that model's check."""
        if not isinstance(value, dict):
            return value
        nested = _nested_model_fields(cls)
        for key, item in value.items():
            if isinstance(key, str) and key in nested:
                continue
            found = limits.find_violation(item, str(key))
            if found is None and isinstance(key, str):
                found = limits.find_violation(key, key) if "\x00" in key or not key.isascii() else None
            if found is not None:
                where, message = found
                raise PydanticCustomError(LIMIT_ERROR, message, {"where": where})  # type: ignore[arg-type]
        return value


@functools.cache
def _nested_model_fields(model: type[BaseModel]) -> frozenset[str]:
    """The names (as sent) of the fields that hold a Strict model, or a list or union of them."""
    return frozenset(field.alias or name for name, field in model.model_fields.items()
                     if _holds_model(field.annotation))


def _holds_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in get_args(annotation))


class TenantCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    parent_id: str | None = None
    profile: str | None = None
    require_https: bool = False
    uid: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    retention_days: int | None = Field(default=None, ge=1, le=3650)


class TenantPatch(Strict):
    retention_days: int | None = Field(ge=1, le=3650)  # null: back to VERIHOOK_RETENTION_DAYS


class AuthNone(Strict):
    type: Literal["none"]


class AuthBasic(Strict):
    type: Literal["basic"]
    token: str | None = Field(default=None, min_length=1, max_length=4096)
    username: str | None = Field(default=None, min_length=1, max_length=512)
    password: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def one_form(self) -> AuthBasic:
        if self.token is not None and self.username is not None:
            raise ValueError("give either token or username and password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class AuthBearer(Strict):
    type: Literal["bearer"]
    token: str = Field(min_length=1, max_length=4096)


class AuthOAuth2(Strict):
    type: Literal["oauth2"]
    token_url: str = Field(pattern=r"^https?://", max_length=2048)
    client_id: str = Field(min_length=1, max_length=1024)
    client_secret: str = Field(min_length=1, max_length=4096)
    scope: str | None = Field(default=None, max_length=1024)


Auth = Annotated[AuthNone | AuthBasic | AuthBearer | AuthOAuth2, Field(discriminator="type")]


class Signing(Strict):
    enabled: bool = True


class AutoDisableFields(Strict):
    failing_for_s: int = Field(ge=1, le=MAX_FAILING_FOR_S)
    min_failures: int = Field(ge=1, le=MAX_MIN_FAILURES)


class EndpointFields(Strict):
    url: str = Field(min_length=1, max_length=2048)
    description: str | None = Field(default=None, max_length=1000)
    event_types: list[str] | None = Field(default=None, max_length=200)
    enabled: bool = True
    profile: str | None = None
    auth: Auth | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=300)
    retry: dict[str, Any] | None = None
    success: str | None = None
    headers: dict[str, str] | None = None
    signing: Signing | None = None
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=MAX_RATE_LIMIT_PER_S)
    auto_disable: AutoDisableFields | None = None


class EndpointCreate(EndpointFields):
    tenant_id: str | None = None


class EndpointUpdate(EndpointFields):
    url: str = Field(default="", min_length=1, max_length=2048)


class SecretRotate(Strict):
    secret: str | None = None
    grace_s: float = Field(default=24 * 3600.0, ge=0, le=7 * 24 * 3600.0)


class Recover(Strict):
    since: str
    until: str | None = None
    include_skipped: bool = False  # also send the deliveries skipped while the endpoint was disabled


class EventCreate(Strict):
    type: str = Field(min_length=1, max_length=MAX_TYPE_LENGTH)
    data: dict[str, Any]
    subject_id: str | None = None
    tenant_id: str | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)


class EventBatch(Strict):
    events: list[EventCreate] = Field(min_length=1, max_length=MAX_BATCH)


@dataclass(slots=True)
class ReadEventBatch:
    """POST /v1/events/batch's body as the service takes it."""

    events: list[EventInput]


_EVENT_BATCH = TypeAdapter(EventBatch)
_EVENT_FIELDS = frozenset(EventCreate.model_fields)


def read_event_batch(body: Any) -> ReadEventBatch:
    """The batch, read without a model per event when it is plainly valid (what EventBatch accepts, of the exact
    JSON types, within verihook.limits: the usual batch); anything else is read by EventBatch, whose errors
    (ValidationError) are the route's 422 as for any body. Up to 1,000 events a request: on the ingest's hot path."""
    events = _plain_events(body)
    if events is None:
        events = [event_input(item) for item in _EVENT_BATCH.validate_python(body, from_attributes=True).events]
    return ReadEventBatch(events)


def _plain_events(body: Any) -> list[EventInput] | None:
    if type(body) is not dict or len(body) != 1 or type(events := body.get("events")) is not list \
            or not 1 <= len(events) <= MAX_BATCH:
        return None
    read = []
    for item in events:
        if type(item) is not dict or not _EVENT_FIELDS.issuperset(item):
            return None
        event_type, data = item.get("type"), item.get("data")
        subject_id, tenant_id, key = item.get("subject_id"), item.get("tenant_id"), item.get("idempotency_key")
        if type(event_type) is not str or not 1 <= len(event_type) <= MAX_TYPE_LENGTH or type(data) is not dict:
            return None
        if not (subject_id is None or type(subject_id) is str) or not (tenant_id is None or type(tenant_id) is str):
            return None
        if not (key is None or (type(key) is str and 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH)):
            return None
        for value in item.values():
            if not limits.within(value):
                return None
        read.append(EventInput(type=event_type, data=data, subject_id=subject_id, tenant_id=tenant_id,
                               idempotency_key=key, within_limits=True))
    return read


def event_input(body: EventCreate) -> EventInput:
    return EventInput(type=body.type, data=body.data, subject_id=body.subject_id, tenant_id=body.tenant_id,
                      idempotency_key=body.idempotency_key, within_limits=True)  # Strict.within_limits held it


# what /openapi.json shows of the batch body is EventBatch's schema
EventBatchBody = Annotated[ReadEventBatch, PlainValidator(read_event_batch, json_schema_input_type=EventBatch),
                           Body()]


class SubjectCreate(Strict):
    kind: str = Field(min_length=1, max_length=100)
    id: str | None = None
    external_id: str | None = Field(default=None, max_length=256)
    tenant_id: str | None = None
    profile: str | None = None
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2048)
    status: str | None = Field(default=None, max_length=100)
    data: dict[str, Any] | None = None


class SubjectPatch(Strict):
    status: str = Field(min_length=1, max_length=100)
    data: dict[str, Any] | None = None


class PortalLinkCreate(Strict):
    ttl_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600.0)


class EventTypeCreate(Strict):
    name: str
    description: str = ""
    schema_: dict[str, Any] = Field(alias="schema")

