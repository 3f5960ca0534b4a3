"""Domain types shared by the store, the service, the dispatcher and the API. No I/O here.

Times are float seconds since the epoch (UTC) throughout; the API formats them as RFC 3339.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # recorded for an endpoint that was disabled when the event was published: never sent unless recovered
    # (POST /v1/endpoints/{id}/recover with include_skipped), and no part of the event's delivery status
    SKIPPED = "skipped"


class AttemptError(StrEnum):
    """Why an attempt got no usable HTTP answer (None when the receiver answered)."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    DNS = "dns"
    TLS = "tls"
    REFUSED_BY_POLICY = "target refused by policy"
    AUTH = "auth"
    ENDPOINT_DISABLED = "endpoint disabled"
    INTERNAL = "internal"  # Verihook could not prepare or send the request
    OTHER = "other"


@dataclass(slots=True)
class Tenant:
    id: str
    name: str
    parent_id: str | None
    profile: str
    require_https: bool
    created_at: float
    uid: str | None = None  # the platform's own id for this customer (e.g. a Credas client GUID)
    retention_days: int | None = None  # how long its finished events are kept; None: VERIHOOK_RETENTION_DAYS
    suspended_at: float | None = None  # None: not suspended (an ancestor's suspension holds too: see access.py)


@dataclass(slots=True)
class ApiKey:
    """One of a tenant's API keys, as listed: never the key, which is stored only as its SHA-256."""

    id: str
    tenant_id: str
    prefix: str | None  # the key's first characters (None for keys made before keys were listed)
    created_at: float
    expires_at: float | None  # None: valid until rotated away or revoked


@dataclass(slots=True)
class SigningSecret:
    secret: str
    expires_at: float | None = None  # None: the current secret; else an old one valid until then


@dataclass(frozen=True, slots=True)
class AutoDisable:
    """Disable an endpoint once every attempt to it has failed for `failing_for_s` and at least `min_failures`."""

    failing_for_s: int
    min_failures: int

    def to_dict(self) -> dict[str, int]:
        return {"failing_for_s": self.failing_for_s, "min_failures": self.min_failures}


@dataclass(slots=True)
class Endpoint:
    id: str
    tenant_id: str
    url: str
    description: str
    enabled: bool
    event_types: list[str] | None  # None: every type
    profile: str | None  # None: the tenant's profile
    auth: dict[str, Any]
    timeout_s: float | None  # None: the profile's default
    retry: dict[str, Any] | None
    success: str | None
    headers: dict[str, str]
    signing_enabled: bool
    signing_secrets: list[SigningSecret]
    created_at: float
    updated_at: float
    disabled_reason: str | None = None
    deleted_at: float | None = None
    rate_limit_per_s: float | None = None  # None: no limit
    auto_disable: AutoDisable | None = None  # None: never disabled for failing (set from the profile at creation)

    def wants(self, event_type: str) -> bool:
        return self.enabled and self.matches(event_type)

    def matches(self, event_type: str) -> bool:
        """Whether its filter takes this type, enabled or not (a disabled one records the event as skipped)."""
        return self.deleted_at is None and (self.event_types is None or event_type in self.event_types)

    def live_secrets(self, now: float) -> list[str]:
        return [s.secret for s in self.signing_secrets if s.expires_at is None or s.expires_at > now]


@dataclass(slots=True)
class Subject:
    id: str
    tenant_id: str
    kind: str
    external_id: str | None
    profile: str | None
    webhook_url: str | None
    status: str | None
    data: dict[str, Any] | None
    sequence: int  # the last sequence number given to one of its events
    created_at: float
    updated_at: float


@dataclass(slots=True)
class StatusChange:
    status: str
    at: float
    event_id: str | None


@dataclass(slots=True)
class Event:
    id: str
    tenant_id: str
    type: str
    data: dict[str, Any]
    subject_id: str | None
    sequence: int | None
    idempotency_key: str | None
    created_at: float


@dataclass(slots=True)
class Attempt:
    delivery_id: str
    number: int
    at: float
    status_code: int | None
    latency_ms: float
    error: str | None
    error_detail: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None


@dataclass(slots=True)
class Delivery:
    id: str
    event_id: str
    tenant_id: str
    endpoint_id: str | None  # None: the subject's own webhook_url
    url: str
    status: DeliveryStatus
    attempt_count: int
    cycle_attempts: int  # attempts since the last (re)delivery cycle began; the retry policy counts these
    next_attempt_at: float | None
    created_at: float
    updated_at: float
    last_status_code: int | None = None
    last_error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(slots=True)
class DueDelivery:
    """A claimed delivery with what the dispatcher needs to send it, in one row."""

    id: str
    event_id: str
    tenant_id: str
    endpoint_id: str | None
    url: str
    attempt_count: int
    cycle_attempts: int
    created_at: float
    event_type: str
    event_data_json: bytes
    event_created_at: float
    subject_id: str | None
    sequence: int | None
    subject_profile: str | None
    endpoint_version: float | None  # the endpoint's updated_at, to notice a stale cached config
    cycle_started_at: float | None = None  # the start of the current delivery cycle (None: its creation)


@dataclass(slots=True)
class DeliveryResult:
    """What one attempt changed: written in batches by the store."""

    delivery_id: str
    event_id: str
    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: float | None
    disable_endpoint_id: str | None = None
    disable_reason: str | None = None
    # The delivery cycle the attempt was sent in (claimed with it). When a redeliver or recover has started a new
    # cycle meanwhile, a failed attempt does not end or schedule the new cycle: the delivery stays due for it.
    cycle_started_at: float | None = None
    # Profiles that retry byte for byte (Incode): the request as sent, JSON {"cycle", "headers"}; stored sealed.
    first_request: bytes | None = None
    # The endpoint whose failing streak this attempt ends (a success) or extends (a failure), and its auto_disable
    # (judged on the streak once written); None: the attempt does not count (a subject's URL, a refusal).
    streak_endpoint_id: str | None = None
    auto_disable: AutoDisable | None = None


@dataclass(slots=True)
class EndpointDisabled:
    """An endpoint that a write of results disabled (it was enabled until then)."""

    endpoint_id: str
    tenant_id: str
    reason: str


@dataclass(slots=True)
class Published:
    event: Event
    deliveries: list[Delivery]
    duplicate: bool  # True: the idempotency key named an earlier event, which is returned instead


@dataclass(slots=True)
class EventFilter:
    tenant_ids: Sequence[str] | None = None  # None: every tenant (the admin)
    type: str | None = None
    subject_id: str | None = None
    endpoint_id: str | None = None
    # a collection: any of them; None in it: no delivery at all
    delivery_status: DeliveryStatus | Collection[DeliveryStatus | None] | None = None
    since: float | None = None
    until: float | None = None


@dataclass(slots=True)
class SubjectFilter:
    tenant_ids: Sequence[str] | None = None
    kind: str | None = None
    # a collection: any of them; None in it: no delivery at all
    delivery_status: DeliveryStatus | Collection[DeliveryStatus | None] | None = None


@dataclass(slots=True)
class EndpointTest:
    """The answer to an endpoint test: one event sent now, nothing stored."""

    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None
    error_detail: str | None
    response_body: str | None


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def rollup(statuses: Iterable[str]) -> DeliveryStatus | None:
    """The delivery status of an event (or subject) from its deliveries': failed, else pending, else succeeded;
    skipped deliveries do not count."""
    found = set(statuses)  # DeliveryStatus values or their text: a StrEnum member is equal to its text
    for status in (DeliveryStatus.FAILED, DeliveryStatus.PENDING, DeliveryStatus.SUCCEEDED):
        if status in found:
            return status
    return None
