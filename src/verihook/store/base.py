"""The store interface: domain-named async methods; the SQLite and PostgreSQL stores implement it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from verihook.model import (
    ApiKey,
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


@dataclass(frozen=True, slots=True)
class Purged:
    """What retention deleted (or, counted, would delete)."""

    events: int = 0
    deliveries: int = 0
    attempts: int = 0

    def __add__(self, other: Purged) -> Purged:
        return Purged(self.events + other.events, self.deliveries + other.deliveries,
                      self.attempts + other.attempts)


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A delivery that gave up, as stored: what its `verihook.delivery.exhausted` news says."""

    id: str
    event_id: str
    tenant_id: str
    endpoint_id: str | None
    url: str
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    failed_at: float  # its last write (`updated_at`)


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
    data: Any = None  # data_json's value when the drafter has it at hand (else the store reads data_json again)


@dataclass(slots=True)
class Recipient:
    endpoint_id: str | None
    url: str
    lease_s: float  # a claim of this delivery expires after this long
    skipped: bool = False  # its endpoint is disabled: the delivery is recorded as skipped, not sent


# the router sees the tenant's endpoints that are not deleted (enabled or not), without their secrets (routing
# needs none); a disabled endpoint's recipient is `skipped`. Its answer depends on nothing else of the draft than
# its tenant (and the tenant's profile) and type: a publish reuses it for the drafts alike that name no subject
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
    # the tenant and its first API key (stored as its hash; `key_prefix`: the key's first characters, to list)
    async def insert_tenant(self, tenant: Tenant, api_key_hash: str, signing_secret: str,
                            key_prefix: str | None = None) -> None: ...
    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    # the tenant whose API key, valid at `now` (not revoked, not expired), has this hash, and when the key expires
    async def tenant_by_key_hash(self, api_key_hash: str, now: float) -> tuple[Tenant, float | None] | None: ...
    async def set_tenant_suspended(self, tenant_id: str, at: float | None) -> None: ...
    # the tenant itself, or its nearest ancestor, if suspended; None when neither is
    async def suspended_ancestor(self, tenant_id: str) -> str | None: ...
    # every tenant with this uid (unique among the children of one parent, and among top-level tenants), by id
    async def tenants_by_uid(self, uid: str) -> list[Tenant]: ...
    async def tenant_signing_secret(self, tenant_id: str) -> str: ...
    async def set_tenant_retention(self, tenant_id: str, days: int | None) -> None: ...
    # (tenant id, retention_days) of every tenant
    async def tenant_retentions(self) -> list[tuple[str, int | None]]: ...
    async def descendant_ids(self, tenant_id: str) -> list[str]: ...
    async def list_tenants(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None
                           ) -> Page[Tenant]: ...

    # API keys: a new key; the tenant's other valid keys then expire at `others_until` (or sooner, if they would)
    async def add_api_key(self, key: ApiKey, key_hash: str, others_until: float) -> None: ...
    async def api_keys(self, tenant_id: str, now: float) -> list[ApiKey]: ...  # the valid ones, oldest first
    async def revoke_api_key(self, tenant_id: str, key_id: str, now: float) -> bool: ...  # False: no such valid key

    # endpoints
    async def insert_endpoint(self, endpoint: Endpoint) -> None: ...
    async def update_endpoint(self, endpoint: Endpoint) -> None: ...
    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None: ...
    async def list_endpoints(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None
                             ) -> Page[Endpoint]: ...

    # subjects
    async def insert_subject(self, subject: Subject) -> None: ...
    # a subject's id is unique within its tenant: it is named by (tenant id, subject id)
    async def get_subject(self, tenant_id: str, subject_id: str) -> Subject | None: ...
    # the subjects with this id among these tenants (None: every tenant's), by tenant id, at most `limit`
    async def subjects_with_id(self, subject_id: str, tenant_ids: Sequence[str] | None, limit: int
                               ) -> list[Subject]: ...
    async def set_subject_status(self, tenant_id: str, subject_id: str, update: SubjectUpdate, now: float
                                 ) -> None: ...
    async def subject_history(self, tenant_id: str, subject_id: str) -> list[StatusChange]: ...
    async def list_subjects(self, where: SubjectFilter, limit: int, cursor: str | None) -> Page[Subject]: ...
    async def subject_delivery_summary(self, tenant_id: str, subject_id: str) -> dict[str, int]: ...

    # events
    async def publish(self, drafts: Sequence[EventDraft], router: Router) -> list[Published]: ...
    async def get_event(self, event_id: str) -> Event | None: ...
    async def list_events(self, where: EventFilter, limit: int, cursor: str | None) -> Page[Event]: ...
    async def deliveries_of(self, event_id: str, with_attempts: bool = True) -> list[Delivery]: ...
    async def event_delivery_statuses(self, event_ids: Sequence[str]) -> dict[str, DeliveryStatus | None]: ...
    async def redeliver_event(self, event_id: str, now: float) -> int: ...
    # delete up to `limit` of the tenant's events created before `before` whose deliveries are all finished (none
    # pending), oldest first, with their deliveries and attempts, in one transaction; answers how many of each
    async def purge_finished_events(self, tenant_id: str, before: float, limit: int) -> Purged: ...
    # deliveries of events other than operational ones that failed (were last written) in [since, until), after
    # `after` (failed_at, id) if given, in (failed_at, id) order, at most `limit`
    async def failed_deliveries(self, since: float, until: float, limit: int,
                                after: tuple[float, str] | None = None) -> list[FailedDelivery]: ...
    # how many events, deliveries and attempts purging every such event of the tenant would delete now
    async def count_finished_events(self, tenant_id: str, before: float) -> Purged: ...
    # requeue the endpoint's failed (and with `include_skipped`, skipped) deliveries created in [since, until)
    async def recover_endpoint(self, endpoint_id: str, since: float, until: float, now: float,
                               include_skipped: bool = False) -> int: ...
    # the attempts of these tenants' deliveries (None: every tenant's), or of one endpoint's, made in `hours`
    # hours from `since`, by hour, oldest first; an hour without attempts has no entry
    async def attempts_by_hour(self, tenant_ids: Sequence[str] | None, endpoint_id: str | None, since: float,
                               hours: int) -> list[HourOfAttempts]: ...

    # seal every stored secret again under the first secret key; answers how many values were sealed again
    async def reseal(self) -> int: ...

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
