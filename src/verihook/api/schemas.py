"""Request bodies (strict: unknown fields and wrong types are refused) and the JSON shapes of responses."""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from verihook import limits
from verihook.api.problems import LIMIT_ERROR
from verihook.model import Attempt, Delivery, DeliveryStatus, Endpoint, Event, Subject, Tenant, rollup
from verihook.rules import Rules
from verihook.service import EndpointTest, EndpointView, SubjectDetail
from verihook.service.endpoint_health import MAX_FAILING_FOR_S, MAX_MIN_FAILURES, MAX_RATE_LIMIT_PER_S
from verihook.times import rfc3339, rfc3339_or_none

REDACTED = "***"
_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


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


class EventCreate(Strict):
    type: str = Field(min_length=1, max_length=200)
    data: dict[str, Any]
    subject_id: str | None = None
    tenant_id: str | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=256)


class EventBatch(Strict):
    events: list[EventCreate] = Field(min_length=1, max_length=1000)


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


# responses


def tenant_out(tenant: Tenant, **secrets: str) -> dict[str, Any]:
    return {"id": tenant.id, "uid": tenant.uid, "name": tenant.name, "parent_id": tenant.parent_id,
            "profile": tenant.profile, "require_https": tenant.require_https,
            "created_at": rfc3339(tenant.created_at), **secrets}


def auth_out(auth: dict[str, Any], reveal: bool) -> dict[str, Any]:
    secret_fields = ("token", "password", "client_secret")
    shown = {k: (v if reveal or k not in secret_fields else REDACTED) for k, v in auth.items()}
    if not reveal and isinstance(shown.get("token_url"), str):
        shown["token_url"] = url_out(shown["token_url"])
    return shown


def url_out(url: str | None) -> str | None:
    """The URL as given, but a password in its userinfo (`https://user:pass@host/`) replaced by ***."""
    return None if url is None else _USERINFO_PASSWORD.sub(rf"\1:{REDACTED}@", url, count=1)


def rules_out(rules: Rules) -> dict[str, Any]:
    return {"profile": rules.profile.name, "timeout_s": rules.timeout_s, "retry": rules.retry.to_dict(),
            "success": rules.success}


def endpoint_out(view: EndpointView, *, reveal: bool = False) -> dict[str, Any]:
    ep: Endpoint = view.endpoint
    rules = rules_out(view.rules)
    current = next((s.secret for s in ep.signing_secrets if s.expires_at is None), None)
    body = {
        "id": ep.id, "tenant_id": ep.tenant_id, "url": ep.url if reveal else url_out(ep.url),
        "description": ep.description,
        "enabled": ep.enabled, "disabled_reason": ep.disabled_reason, "event_types": ep.event_types,
        **rules, "auth": auth_out(ep.auth, reveal), "headers": ep.headers, "signing": {"enabled": ep.signing_enabled},
        "rate_limit_per_s": ep.rate_limit_per_s,
        "auto_disable": None if ep.auto_disable is None else ep.auto_disable.to_dict(),
        "signing_secret": current if reveal else REDACTED,
        "created_at": rfc3339(ep.created_at), "updated_at": rfc3339(ep.updated_at),
    }
    return body


def secrets_out(view: EndpointView) -> dict[str, Any]:
    ep = view.endpoint
    return {"signing_secrets": [{"secret": s.secret, "expires_at": rfc3339_or_none(s.expires_at)}
                                for s in ep.signing_secrets],
            "signing_secret": next((s.secret for s in ep.signing_secrets if s.expires_at is None), None),
            "auth": auth_out(ep.auth, reveal=True)}


def attempt_out(attempt: Attempt) -> dict[str, Any]:
    return {"number": attempt.number, "at": rfc3339(attempt.at), "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms, "error": attempt.error, "error_detail": attempt.error_detail,
            "request_headers": attempt.request_headers, "response_headers": attempt.response_headers,
            "response_body": attempt.response_body}


def delivery_out(delivery: Delivery) -> dict[str, Any]:
    return {"id": delivery.id, "endpoint_id": delivery.endpoint_id, "url": url_out(delivery.url),
            "status": delivery.status.value, "attempt_count": delivery.attempt_count,
            "next_attempt_at": rfc3339_or_none(delivery.next_attempt_at)
            if delivery.status is DeliveryStatus.PENDING else None,
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
            "attempts": [attempt_out(a) for a in delivery.attempts]}


def event_out(event: Event, *, delivery_status: DeliveryStatus | None = None,
              deliveries: list[Delivery] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event.id, "type": event.type, "tenant_id": event.tenant_id, "subject_id": event.subject_id,
        "sequence": event.sequence, "data": event.data, "idempotency_key": event.idempotency_key,
        "created_at": rfc3339(event.created_at)}
    if deliveries is not None:
        body["deliveries"] = [delivery_out(d) for d in deliveries]
        delivery_status = rollup(d.status for d in deliveries)
    body["delivery_status"] = delivery_status.value if delivery_status else None
    return body


def subject_out(subject: Subject, detail: SubjectDetail | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": subject.id, "kind": subject.kind, "tenant_id": subject.tenant_id,
        "external_id": subject.external_id, "profile": subject.profile, "webhook_url": url_out(subject.webhook_url),
        "status": subject.status, "data": subject.data, "sequence": subject.sequence,
        "created_at": rfc3339(subject.created_at), "updated_at": rfc3339(subject.updated_at)}
    if detail is not None:
        body["history"] = [{"status": h.status, "at": rfc3339(h.at), "event_id": h.event_id}
                           for h in detail.history]
        body["deliveries"] = detail.deliveries
        status = rollup(name for name, count in detail.deliveries.items() if count)
        body["delivery_status"] = status.value if status else None
    return body


def test_out(result: EndpointTest) -> dict[str, Any]:
    return {"ok": result.ok, "status_code": result.status_code, "latency_ms": result.latency_ms,
            "error": result.error, "error_detail": result.error_detail, "response_body": result.response_body}


def page_out(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"data": items, "next_cursor": next_cursor}
