"""Endpoints as the API shows them: secrets and URL passwords redacted unless the caller asked for them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from verihook.model import EndpointTest
from verihook.policy import RetryPolicy
from verihook.redaction import REDACTED, url_redacted
from verihook.service.endpoints import EndpointView
from verihook.service.views.common import Number, PageOut, Timestamp, View
from verihook.times import rfc3339, rfc3339_or_none

SECRET_AUTH_FIELDS = ("token", "password", "client_secret")


def _absent(value: object) -> bool:
    return value is None


class AuthNoneOut(View):
    type: Literal["none"]


class AuthBasicOut(View):
    """A token sent as given, or a username and password (the fields not set are left out)."""

    type: Literal["basic"]
    token: str | None = Field(default=None, exclude_if=_absent)
    username: str | None = Field(default=None, exclude_if=_absent)
    password: str | None = Field(default=None, exclude_if=_absent)


class AuthBearerOut(View):
    type: Literal["bearer"]
    token: str


class AuthOAuth2Out(View):
    type: Literal["oauth2"]
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = Field(default=None, exclude_if=_absent)


AuthOut = Annotated[AuthNoneOut | AuthBasicOut | AuthBearerOut | AuthOAuth2Out, Field(discriminator="type")]
_AUTH: TypeAdapter[AuthNoneOut | AuthBasicOut | AuthBearerOut | AuthOAuth2Out] = TypeAdapter(AuthOut)


def auth_shown(auth: dict[str, Any], *, reveal: bool) -> AuthNoneOut | AuthBasicOut | AuthBearerOut | AuthOAuth2Out:
    """The endpoint's auth; unless `reveal`, its secrets as *** and a password in its token URL too."""
    shown = {key: value if reveal or key not in SECRET_AUTH_FIELDS else REDACTED for key, value in auth.items()}
    if not reveal and isinstance(shown.get("token_url"), str):
        shown["token_url"] = url_redacted(shown["token_url"])
    return _AUTH.validate_python(shown)


class RetryNoneOut(View):
    strategy: Literal["none"]


class RetryScheduleOut(View):
    strategy: Literal["schedule"]
    delays_s: list[Number]
    jitter: Number


class RetryExponentialOut(View):
    strategy: Literal["exponential"]
    initial_s: Number
    factor: Number
    max_attempts: int
    max_delay_s: Number
    jitter: Number


RetryOut = Annotated[RetryNoneOut | RetryScheduleOut | RetryExponentialOut, Field(discriminator="strategy")]
_RETRY: TypeAdapter[RetryNoneOut | RetryScheduleOut | RetryExponentialOut] = TypeAdapter(RetryOut)


def retry_shown(retry: RetryPolicy) -> RetryNoneOut | RetryScheduleOut | RetryExponentialOut:
    return _RETRY.validate_python(retry.to_dict())


class SigningOut(View):
    enabled: bool


class AutoDisableOut(View):
    failing_for_s: int = Field(description="every attempt has failed for this many seconds")
    min_failures: int = Field(description="and at least this many attempts failed")


class EndpointOut(View):
    """An endpoint with the rules in force for it (its own, else its profile's)."""

    id: str
    tenant_id: str
    url: str
    description: str
    enabled: bool
    disabled_reason: str | None
    event_types: list[str] | None = Field(description="null: every event type")
    profile: str
    timeout_s: Number
    retry: RetryOut
    success: str
    auth: AuthOut
    headers: dict[str, str]
    signing: SigningOut
    rate_limit_per_s: Number | None = Field(description="at most this many requests a second; null: no limit")
    auto_disable: AutoDisableOut | None = Field(description="when failing makes it disabled; null: never")
    signing_secret: str | None = Field(description="*** except in the answer that created the endpoint")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, view: EndpointView, *, reveal: bool = False) -> EndpointOut:
        """`reveal`: secrets and URL passwords as stored (for the caller that has just given them)."""
        ep, rules = view.endpoint, view.rules
        return cls(
            id=ep.id, tenant_id=ep.tenant_id, url=ep.url if reveal else url_redacted(ep.url),
            description=ep.description, enabled=ep.enabled, disabled_reason=ep.disabled_reason,
            event_types=ep.event_types, profile=rules.profile.name, timeout_s=rules.timeout_s,
            retry=retry_shown(rules.retry), success=rules.success, auth=auth_shown(ep.auth, reveal=reveal),
            headers=ep.headers, signing=SigningOut(enabled=ep.signing_enabled), rate_limit_per_s=ep.rate_limit_per_s,
            auto_disable=None if ep.auto_disable is None else AutoDisableOut(**ep.auto_disable.to_dict()),
            signing_secret=_current_secret(view) if reveal else REDACTED,
            created_at=rfc3339(ep.created_at), updated_at=rfc3339(ep.updated_at))


class EndpointPage(PageOut[EndpointOut]):
    pass


class SigningSecretOut(View):
    secret: str
    expires_at: Timestamp | None = Field(description="null: the current secret; else an old one valid until then")


class EndpointSecretsOut(View):
    """Every signing secret still valid and the auth credentials, as stored."""

    signing_secrets: list[SigningSecretOut]
    signing_secret: str | None
    auth: AuthOut

    @classmethod
    def of(cls, view: EndpointView) -> EndpointSecretsOut:
        secrets = [SigningSecretOut(secret=s.secret, expires_at=rfc3339_or_none(s.expires_at))
                   for s in view.endpoint.signing_secrets]
        return cls(signing_secrets=secrets, signing_secret=_current_secret(view),
                   auth=auth_shown(view.endpoint.auth, reveal=True))


class EndpointTestOut(View):
    """One test event sent now; nothing stored."""

    ok: bool
    status_code: int | None
    latency_ms: Number
    error: str | None
    error_detail: str | None
    response_body: str | None

    @classmethod
    def of(cls, result: EndpointTest) -> EndpointTestOut:
        return cls(ok=result.ok, status_code=result.status_code, latency_ms=result.latency_ms, error=result.error,
                   error_detail=result.error_detail, response_body=result.response_body)


class RecoveredOut(View):
    requeued: int = Field(description="how many failed deliveries were queued again")


def _current_secret(view: EndpointView) -> str | None:
    return next((s.secret for s in view.endpoint.signing_secrets if s.expires_at is None), None)
