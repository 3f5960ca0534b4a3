"""The store interface: domain-named async methods; the SQLite and PostgreSQL stores implement it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from verihook.model import (
    Delivery,
    DeliveryResult,
    DeliveryStatus,
    DueDelivery,
    Endpoint,
    EndpointDisabled,
    Event,
    EventFilter,
    Page,
    Published,
    StatusChange,
    Subject,
    SubjectFilter,
    Tenant,
)


@dataclass(slots=True)
class SubjectUpdate:
    status: str
    data_json: bytes | None  # None: keep the subject's data


@dataclass(slots=True)
class EventDraft:
    id: str
    tenant_id: str
    type: str
    data_json: bytes
    subject_id: str | None
    idempotency_key: str | None
    created_at: float
    subject_update: SubjectUpdate | None = None
    tenant_profile: str = "standard"  # decides the delivery defaults of endpoints that name no profile
    only_if_routed: bool = False  # True: not published at all when no destination wants it (operational events)


@dataclass(slots=True)
class Recipient:
    endpoint_id: str | None
    url: str
    lease_s: float  # a claim of this delivery expires after this long


# the router sees the enabled endpoints of the tenant without their secrets (routing needs none)
Router = Callable[[EventDraft, "Subject | None", Sequence[Endpoint]], list[Recipient]]


@dataclass(slots=True)
class QueueStats:
    pending: int
    oldest_pending_created_at: float | None


@dataclass(slots=True)
class HourOfAttempts:
    """The attempts made in one hour starting at `start`: how many, how many ended their delivery as succeeded or
    as failed, and the mean latency of those that got an answer (None: none did)."""

    start: float
    attempts: int
    succeeded: int
    failed: int
    mean_latency_ms: float | None


class Store(Protocol):
    async def migrate(self) -> list[str]: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    # call `callback` whenever another process makes deliveries due (NOTIFY on PostgreSQL); runs until cancelled,
    # or returns at once where publishing wakes the one dispatcher in-process (SQLite)
    async def listen_for_work(self, callback: Callable[[], None]) -> None: ...

    async def get_meta(self, key: str) -> str | None: ...
    # store `value` under `key` unless a value is stored there already (atomic, across processes too);
    # answers the value that is stored: `value`, or the one that was there first
    async def put_meta_if_absent(self, key: str, value: str) -> str: ...

    # tenants
    async def insert_tenant(self, tenant: Tenant, api_key_hash: str, signing_secret: str) -> None: ...
    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    async def tenant_by_key_hash(self, api_key_hash: str) -> Tenant | None: ...
    async def tenant_by_uid(self, uid: str) -> Tenant | None: ...
    async def tenant_signing_secret(self, tenant_id: str) -> str: ...
    async def descendant_ids(self, tenant_id: str) -> list[str]: ...
    async def list_tenants(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None
                           ) -> Page[Tenant]: ...

    # endpoints
    async def insert_endpoint(self, endpoint: Endpoint) -> None: ...
    async def update_endpoint(self, endpoint: Endpoint) -> None: ...
    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None: ...
    async def list_endpoints(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None
                             ) -> Page[Endpoint]: ...

    # subjects
    async def insert_subject(self, subject: Subject) -> None: ...
    async def get_subject(self, subject_id: str) -> Subject | None: ...
    async def set_subject_status(self, subject_id: str, update: SubjectUpdate, now: float) -> None: ...
    async def subject_history(self, subject_id: str) -> list[StatusChange]: ...
    async def list_subjects(self, where: SubjectFilter, limit: int, cursor: str | None) -> Page[Subject]: ...
    async def subject_delivery_summary(self, subject_id: str) -> dict[str, int]: ...

    # events
    async def publish(self, drafts: Sequence[EventDraft], router: Router) -> list[Published]: ...
    async def get_event(self, event_id: str) -> Event | None: ...
    async def list_events(self, where: EventFilter, limit: int, cursor: str | None) -> Page[Event]: ...
    async def deliveries_of(self, event_id: str, with_attempts: bool = True) -> list[Delivery]: ...
    async def event_delivery_statuses(self, event_ids: Sequence[str]) -> dict[str, DeliveryStatus | None]: ...
    async def redeliver_event(self, event_id: str, now: float) -> int: ...
    async def recover_endpoint(self, endpoint_id: str, since: float, until: float, now: float) -> int: ...
    # the attempts of these tenants' deliveries (None: every tenant's), or of one endpoint's, made in `hours`
    # hours from `since`, by hour, oldest first; an hour without attempts has no entry
    async def attempts_by_hour(self, tenant_ids: Sequence[str] | None, endpoint_id: str | None, since: float,
                               hours: int) -> list[HourOfAttempts]: ...

    # event type catalog (registered schemas for free types)
    async def upsert_event_type(self, name: str, description: str, schema_json: bytes, now: float) -> None: ...
    async def list_event_types(self) -> list[tuple[str, str, bytes]]: ...

    # the dispatcher's hot path
    async def claim_due(self, now: float, limit: int) -> list[DueDelivery]: ...
    async def extend_leases(self, delivery_ids: Sequence[str], now: float) -> None: ...
    # hand claimed deliveries back unsent, each due again at its (delivery id, time); no attempt is counted
    async def defer(self, deferrals: Sequence[tuple[str, float]], now: float) -> None: ...
    # write attempts and their deliveries' new state, and the endpoints' failing streaks; answers the endpoints
    # this disabled (a 410, or auto_disable), each once: those that were enabled until now
    async def record_results(self, results: Sequence[DeliveryResult], now: float) -> list[EndpointDisabled]: ...
    # the `first_request` last recorded for the delivery (opened), or None
    async def first_request(self, delivery_id: str) -> bytes | None: ...
    async def next_due_at(self) -> float | None: ...
    # the due time of the delivery that has waited longest to be claimed (due and not leased), if any
    async def oldest_due_at(self, now: float) -> float | None: ...
    async def queue_stats(self) -> QueueStats: ...
