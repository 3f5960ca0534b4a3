"""The store methods written once for both engines, over an engine's connector (store/database.py).

SqliteStore and PostgresStore add what truly differs: opening and migrating, the dispatcher's claims, batched
results and deferrals, the idempotency-key locks and telling other processes about new work.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from verihook.crypto import SecretBox
from verihook.ids import new_id
from verihook.model import (
    ApiKey,
    Delivery,
    DeliveryResult,
    DeliveryStatus,
    Endpoint,
    Event,
    EventFilter,
    Page,
    Published,
    StatusChange,
    Subject,
    SubjectFilter,
    Tenant,
    rollup,
)
from verihook.store import publishing, resealing
from verihook.store import queries as q
from verihook.store.base import EventDraft, FailedDelivery, HourOfAttempts, Purged, QueueStats, Router, SubjectUpdate
from verihook.store.codec import EndpointCodec
from verihook.store.database import Database, Tx
from verihook.store.errors import MissingRow
from verihook.store.rows import api_key_of, attempt_of, delivery_of, event_of, page_of, subject_of, tenant_of


class SqlStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self._box = box
        self._codec = EndpointCodec(box)

    # what an engine adds

    async def _lock_idempotency_keys(self, tx: Tx, keys: Sequence[tuple[str, str]]) -> None:
        """Serialise publishers of these (tenant, key) pairs until the transaction ends (nothing to do where
        one writer holds the database)."""

    async def _lock_deliveries_of_events(self, tx: Tx, event_ids: Sequence[str]) -> None:
        """Hold these events' deliveries until the transaction ends, so none becomes pending meanwhile (a
        redeliver waits; nothing to do where one writer holds the database)."""

    async def _made_due(self, tx: Tx) -> None:
        """Tell the other processes' dispatchers that deliveries are due (nothing to do where there are none)."""

    # the database

    async def ping(self) -> None:
        await self.db.fetch_one(q.PING)

    async def get_meta(self, key: str) -> str | None:
        row = await self.db.fetch_one(q.GET_META, key=key)
        return row[0] if row else None

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        async def unit(tx: Tx) -> str:
            # On PostgreSQL the INSERT waits for a concurrent one of the same key to commit, then does nothing;
            # the SELECT, a statement of its own (a new snapshot), then sees the row that won.
            await tx.execute(q.PUT_META_IF_ABSENT, key=key, value=value)
            return str((await tx.fetch_one(q.GET_META, key=key))[0])

        return await self.db.write(unit)

    # tenants

    async def insert_tenant(self, tenant: Tenant, api_key_hash: str, signing_secret: str,
                            key_prefix: str | None = None) -> None:
        async def unit(tx: Tx) -> None:
            await tx.execute(q.INSERT_TENANT, id=tenant.id, name=tenant.name, parent_id=tenant.parent_id,
                             profile=tenant.profile, require_https=tenant.require_https,
                             signing_secret=self._box.seal(signing_secret), created_at=tenant.created_at,
                             uid=tenant.uid, retention_days=tenant.retention_days)
            await tx.execute(q.INSERT_API_KEY, id=new_id("key"), tenant_id=tenant.id, key_hash=api_key_hash,
                             prefix=key_prefix, created_at=tenant.created_at)

        await self.db.write(unit)

    async def set_tenant_retention(self, tenant_id: str, days: int | None) -> None:
        if not await self.db.execute(q.SET_TENANT_RETENTION, id=tenant_id, days=days):
            raise MissingRow(f"tenant {tenant_id} not found", field="tenant_id")

    async def tenant_retentions(self) -> list[tuple[str, int | None]]:
        return [(row[0], row[1]) for row in await self.db.fetch_all(q.TENANT_RETENTIONS)]

    async def tenants_by_uid(self, uid: str) -> list[Tenant]:
        return [tenant_of(row) for row in await self.db.fetch_all(q.TENANTS_BY_UID, uid=uid)]

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = await self.db.fetch_one(q.GET_TENANT, id=tenant_id)
        return tenant_of(row) if row else None

    async def tenant_by_key_hash(self, api_key_hash: str, now: float) -> tuple[Tenant, float | None] | None:
        row = await self.db.fetch_one(q.TENANT_BY_KEY_HASH, key_hash=api_key_hash, now=now)
        return (tenant_of(row), row["key_expires_at"]) if row else None

    async def set_tenant_suspended(self, tenant_id: str, at: float | None) -> None:
        if not await self.db.execute(q.SET_TENANT_SUSPENDED, id=tenant_id, at=at):
            raise MissingRow(f"tenant {tenant_id} not found", field="tenant_id")

    async def suspended_ancestor(self, tenant_id: str) -> str | None:
        row = await self.db.fetch_one(q.SUSPENDED_ANCESTOR, id=tenant_id)
        return row[0] if row else None

    # API keys

    async def add_api_key(self, key: ApiKey, key_hash: str, others_until: float) -> None:
        async def unit(tx: Tx) -> None:
            await tx.execute(q.INSERT_API_KEY, id=key.id, tenant_id=key.tenant_id, key_hash=key_hash,
                             prefix=key.prefix, created_at=key.created_at)
            await tx.execute(q.EXPIRE_OTHER_API_KEYS, tenant_id=key.tenant_id, keep=key.id, until=others_until)

        await self.db.write(unit)

    async def api_keys(self, tenant_id: str, now: float) -> list[ApiKey]:
        return [api_key_of(row) for row in await self.db.fetch_all(q.API_KEYS_OF_TENANT, tenant_id=tenant_id, now=now)]

    async def revoke_api_key(self, tenant_id: str, key_id: str, now: float) -> bool:
        return bool(await self.db.execute(q.REVOKE_API_KEY, id=key_id, tenant_id=tenant_id, now=now))

    async def tenant_signing_secret(self, tenant_id: str) -> str:
        row = await self.db.fetch_one(q.TENANT_SIGNING_SECRET, id=tenant_id)
        if row is None:
            raise MissingRow(f"tenant {tenant_id} not found", field="tenant_id")
        return self._box.open(row[0])

    async def descendant_ids(self, tenant_id: str) -> list[str]:
        return [row[0] for row in await self.db.fetch_all(q.DESCENDANT_IDS, id=tenant_id)]

    async def list_tenants(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None) -> Page[Tenant]:
        sql, params = q.tenants_listing(tenant_ids).sql(limit, cursor)
        return page_of(await self.db.fetch_all(sql, **params), limit, tenant_of)

    # endpoints

    async def insert_endpoint(self, endpoint: Endpoint) -> None:
        await self.db.execute(q.INSERT_ENDPOINT, **self._codec.to_params(endpoint))

    async def update_endpoint(self, endpoint: Endpoint) -> None:
        await self.db.execute(q.UPDATE_ENDPOINT, **self._codec.to_params(endpoint))

    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        row = await self.db.fetch_one(q.GET_ENDPOINT, id=endpoint_id)
        return self._codec.from_row(row) if row else None

    async def list_endpoints(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None
                             ) -> Page[Endpoint]:
        sql, params = q.endpoints_listing(tenant_ids).sql(limit, cursor)
        return page_of(await self.db.fetch_all(sql, **params), limit, self._codec.from_row)

    # subjects

    async def insert_subject(self, subject: Subject) -> None:
        s = subject

        async def unit(tx: Tx) -> None:
            await tx.execute(q.INSERT_SUBJECT, id=s.id, tenant_id=s.tenant_id, kind=s.kind, external_id=s.external_id,
                             profile=s.profile, webhook_url=s.webhook_url, status=s.status,
                             data=None if s.data is None else orjson.dumps(s.data).decode(), sequence=s.sequence,
                             created_at=s.created_at, updated_at=s.updated_at)
            if s.status is not None:
                await tx.execute(q.INSERT_STATUS_CHANGE, tenant_id=s.tenant_id, subject_id=s.id, status=s.status,
                                 at=s.created_at, event_id=None)

        await self.db.write(unit)

    async def get_subject(self, tenant_id: str, subject_id: str) -> Subject | None:
        row = await self.db.fetch_one(q.GET_SUBJECT, tenant_id=tenant_id, id=subject_id)
        return subject_of(row) if row else None

    async def subjects_with_id(self, subject_id: str, tenant_ids: Sequence[str] | None, limit: int
                               ) -> list[Subject]:
        if tenant_ids is None:
            rows = await self.db.fetch_all(q.SUBJECTS_WITH_ID_ANYWHERE, id=subject_id, limit=limit)
        else:
            rows = await self.db.fetch_all(q.SUBJECTS_WITH_ID, id=subject_id, tenant_ids=list(tenant_ids),
                                           limit=limit)
        return [subject_of(row) for row in rows]

    async def set_subject_status(self, tenant_id: str, subject_id: str, update: SubjectUpdate, now: float) -> None:
        async def unit(tx: Tx) -> None:
            changed = await tx.execute(q.SET_SUBJECT_STATUS, tenant_id=tenant_id, id=subject_id, status=update.status,
                                       at=now, data=None if update.data_json is None else update.data_json.decode())
            if not changed:
                raise MissingRow(f"subject {subject_id} not found", field="subject_id")
            await tx.execute(q.INSERT_STATUS_CHANGE, tenant_id=tenant_id, subject_id=subject_id,
                             status=update.status, at=now, event_id=None)

        await self.db.write(unit)

    async def subject_history(self, tenant_id: str, subject_id: str) -> list[StatusChange]:
        rows = await self.db.fetch_all(q.SUBJECT_HISTORY, tenant_id=tenant_id, subject_id=subject_id)
        return [StatusChange(row["status"], row["at"], row["event_id"]) for row in rows]

    async def list_subjects(self, where: SubjectFilter, limit: int, cursor: str | None) -> Page[Subject]:
        sql, params = q.subjects_listing(where.tenant_ids, where.kind, where.delivery_status).sql(limit, cursor)
        return page_of(await self.db.fetch_all(sql, **params), limit, subject_of)

    async def subject_delivery_summary(self, tenant_id: str, subject_id: str) -> dict[str, int]:
        summary = {status.value: 0 for status in DeliveryStatus}
        for row in await self.db.fetch_all(q.SUBJECT_DELIVERY_SUMMARY, tenant_id=tenant_id, subject_id=subject_id):
            summary[row[0]] = row[1]
        return summary

    # events

    async def publish(self, drafts: Sequence[EventDraft], router: Router) -> list[Published]:
        async def unit(tx: Tx) -> list[Published]:
            published, made_due = await publishing.publish(tx, drafts, router, self._codec,
                                                           self._lock_idempotency_keys)
            if made_due:
                await self._made_due(tx)
            return published

        return await self.db.write(unit)

    async def get_event(self, event_id: str) -> Event | None:
        row = await self.db.fetch_one(q.GET_EVENT, id=event_id)
        return event_of(row) if row else None

    async def list_events(self, where: EventFilter, limit: int, cursor: str | None) -> Page[Event]:
        listing = q.events_listing(where.tenant_ids, where.type, where.subject_id, where.endpoint_id,
                                   where.delivery_status, where.since, where.until)
        sql, params = listing.sql(limit, cursor)
        return page_of(await self.db.fetch_all(sql, **params), limit, event_of)

    async def deliveries_of(self, event_id: str, with_attempts: bool = True) -> list[Delivery]:
        async def unit(tx: Tx) -> list[Delivery]:  # one snapshot: the attempts are those the deliveries count
            deliveries = [delivery_of(row) for row in await tx.fetch_all(q.DELIVERIES_OF_EVENTS, event_ids=[event_id])]
            if with_attempts and deliveries:
                by_id = {d.id: d for d in deliveries}
                for row in await tx.fetch_all(q.ATTEMPTS_OF_DELIVERIES, delivery_ids=list(by_id)):
                    by_id[row["delivery_id"]].attempts.append(attempt_of(row))
            return deliveries

        return await self.db.read(unit)

    async def event_delivery_statuses(self, event_ids: Sequence[str]) -> dict[str, DeliveryStatus | None]:
        if not event_ids:
            return {}
        statuses: dict[str, set[str]] = {event_id: set() for event_id in event_ids}
        for row in await self.db.fetch_all(q.DELIVERY_STATUSES_OF_EVENTS, event_ids=list(event_ids)):
            statuses[row[0]].add(row[1])
        return {event_id: rollup(found) for event_id, found in statuses.items()}

    async def _requeue(self, query: str, **params: object) -> int:
        async def unit(tx: Tx) -> int:
            count = await tx.execute(query, **params)
            if count:
                await self._made_due(tx)
            return count

        return await self.db.write(unit)

    async def redeliver_event(self, event_id: str, now: float) -> int:
        return await self._requeue(q.REDELIVER_EVENT, event_id=event_id, now=now)

    async def recover_endpoint(self, endpoint_id: str, since: float, until: float, now: float,
                               include_skipped: bool = False) -> int:
        statuses = [DeliveryStatus.FAILED.value, *([DeliveryStatus.SKIPPED.value] if include_skipped else [])]
        return await self._requeue(q.RECOVER_ENDPOINT, endpoint_id=endpoint_id, since=since, until=until, now=now,
                                   statuses=statuses)

    async def purge_finished_events(self, tenant_id: str, before: float, limit: int) -> Purged:
        async def unit(tx: Tx) -> Purged:
            ids = [row[0] for row in await tx.fetch_all(q.FINISHED_EVENTS_BEFORE, tenant_id=tenant_id, before=before,
                                                        limit=limit)]
            if not ids:
                return Purged()
            await self._lock_deliveries_of_events(tx, ids)
            ids = [row[0] for row in await tx.fetch_all(q.FINISHED_EVENTS_AMONG, ids=ids)]
            if not ids:
                return Purged()
            attempts = await tx.execute(q.DELETE_ATTEMPTS_OF_EVENTS, ids=ids)
            deliveries = await tx.execute(q.DELETE_DELIVERIES_OF_EVENTS, ids=ids)
            return Purged(await tx.execute(q.DELETE_EVENTS, ids=ids), deliveries, attempts)

        return await self.db.write(unit)

    async def failed_deliveries(self, since: float, until: float, limit: int,
                                after: tuple[float, str] | None = None) -> list[FailedDelivery]:
        after_at, after_id = after if after is not None else (since, "")
        rows = await self.db.fetch_all(q.FAILED_DELIVERIES, since=since, until=until, after_at=after_at,
                                       after_id=after_id, limit=limit)
        return [FailedDelivery(row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], row[7], float(row[8]))
                for row in rows]

    async def count_finished_events(self, tenant_id: str, before: float) -> Purged:
        row = await self.db.fetch_one(q.COUNT_FINISHED_BEFORE, tenant_id=tenant_id, before=before)
        return Purged(int(row[0]), int(row[1]), int(row[2]))

    async def attempts_by_hour(self, tenant_ids: Sequence[str] | None, endpoint_id: str | None, since: float,
                               hours: int) -> list[HourOfAttempts]:
        sql, params = q.attempts_by_hour(tenant_ids, endpoint_id, since, hours)
        return [HourOfAttempts(int(row[0]) * q.HOUR_S, int(row[1]), int(row[2]), int(row[3]),
                               None if row[4] is None else float(row[4]))
                for row in await self.db.fetch_all(sql, **params)]

    async def reseal(self) -> int:
        return await resealing.reseal_all(self.db, self._box)

    # the event type catalog

    async def upsert_event_type(self, name: str, description: str, schema_json: bytes, now: float) -> None:
        await self.db.execute(q.UPSERT_EVENT_TYPE, name=name, description=description, schema=schema_json.decode(),
                              at=now)

    async def list_event_types(self) -> list[tuple[str, str, bytes]]:
        return [(row[0], row[1], row[2].encode()) for row in await self.db.fetch_all(q.LIST_EVENT_TYPES)]

    # the dispatcher's queue (claims, results and deferrals are the engine's)

    async def extend_leases(self, delivery_ids: Sequence[str], now: float) -> None:
        # sorted: the lock order of every batch that writes deliveries
        await self.db.execute(q.EXTEND_LEASES, ids=sorted(delivery_ids), now=now)

    async def next_due_at(self) -> float | None:
        row = await self.db.fetch_one(q.NEXT_DUE_AT)
        return row[0] if row else None

    async def first_request(self, delivery_id: str) -> bytes | None:
        row = await self.db.fetch_one(q.FIRST_REQUEST, id=delivery_id)
        return None if row is None or row[0] is None else self._box.open(row[0]).encode()

    def _sealed_first_requests(self, results: Sequence[DeliveryResult]) -> list[tuple[str, str]]:
        """(sealed first request, delivery id) of the results that carry one (identical-retry profiles)."""
        return [(self._box.seal(r.first_request.decode()), r.delivery_id) for r in results if r.first_request]

    async def oldest_due_at(self, now: float) -> float | None:
        row = await self.db.fetch_one(q.OLDEST_DUE_AT, now=now)
        return row[0] if row else None

    async def queue_stats(self) -> QueueStats:
        row = await self.db.fetch_one(q.QUEUE_STATS)
        return QueueStats(row[0], row[1])
