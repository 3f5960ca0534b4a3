"""The shared store: PostgreSQL through asyncpg, for any number of API and worker processes.

Same behaviour as the SQLite store, method for method (tests/integration/test_store_contract.py runs against
both). What differs is how many processes may share it:

- claims take rows with `FOR UPDATE SKIP LOCKED` and stamp a lease in the same statement, so workers never
  wait for each other and a dead worker's claims come back when their lease runs out;
- every transaction that makes deliveries due sends NOTIFY on WORK_CHANNEL, and workers LISTEN
  (`listen_for_work`), so a published event leaves at once from whichever worker is free;
- idempotency keys are serialised across processes by a transaction-scoped advisory lock per key;
- the hot path is batched: one statement claims a batch, one statement records a batch of results (the
  attempts and their deliveries' new state, from unnest() arrays).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs; asyncpg-stubs would type it
import orjson

from verihook.crypto import SecretBox
from verihook.errors import InvalidInput
from verihook.model import (
    Delivery,
    DeliveryResult,
    DeliveryStatus,
    DueDelivery,
    Endpoint,
    Event,
    Page,
    StatusChange,
    Subject,
    Tenant,
    rollup,
)
from verihook.store.base import EventDraft, EventFilter, Published, QueueStats, Router, SubjectFilter, SubjectUpdate
from verihook.store.codec import EndpointCodec
from verihook.store.postgres_conn import WORK_CHANNEL, Connections, dsn_of
from verihook.store.postgres_sql import (
    BOOLEAN_ENDPOINT_COLUMNS,
    CLAIM_DUE,
    DEFER,
    DISABLE_ENDPOINTS,
    LOCK_IDEMPOTENCY_KEYS,
    NOTIFY_WORK,
    RECORD_RESULTS,
    REQUEUE,
    PublishBatch,
    Where,
    results_json,
    row_count,
)
from verihook.store.rows import attempt_of, delivery_of, event_of, page_of, subject_of, tenant_of
from verihook.store.status_sql import EVENT_HAS_DELIVERY, SUBJECT_HAS_DELIVERY, status_condition


class PostgresStore:
    def __init__(self, database_url: str, box: SecretBox) -> None:
        self.database_url = database_url
        self._conns = Connections(dsn_of(database_url))
        self._codec = EndpointCodec(box)
        self._box = box

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with self._conns.transaction() as conn:
                yield conn
        except asyncpg.CharacterNotInRepertoireError as error:
            raise InvalidInput("text must not contain NUL (\\u0000) characters") from error

    @contextlib.asynccontextmanager
    async def _one(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one statement (atomic by itself: no BEGIN and COMMIT round trips)."""
        try:
            async with self._conns.connection() as conn:
                yield conn
        except asyncpg.CharacterNotInRepertoireError as error:
            raise InvalidInput("text must not contain NUL (\\u0000) characters") from error

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._one() as conn:
            return await conn.fetch(sql, *args)

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._one() as conn:
            return await conn.fetchrow(sql, *args)

    async def _execute(self, sql: str, *args: Any) -> str:
        async with self._one() as conn:
            return await conn.execute(sql, *args)

    async def migrate(self) -> list[str]:
        return await self._conns.migrate()

    async def close(self) -> None:
        await self._conns.close()

    async def ping(self) -> None:
        await self._fetchrow("SELECT 1")

    async def listen_for_work(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever another process (or this one) makes deliveries due; runs until cancelled."""
        await self._conns.listen(WORK_CHANNEL, callback)

    async def get_meta(self, key: str) -> str | None:
        row = await self._fetchrow("SELECT value FROM meta WHERE key = $1", key)
        return row[0] if row else None

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        # The INSERT waits for a concurrent one of the same key to commit, then does nothing; the SELECT, a
        # statement of its own (a new snapshot), then sees the row that won.
        async with self._one() as conn:
            stored = await conn.fetchval("INSERT INTO meta (key, value) VALUES ($1, $2)"
                                         " ON CONFLICT (key) DO NOTHING RETURNING value", key, value)
            if stored is None:
                stored = await conn.fetchval("SELECT value FROM meta WHERE key = $1", key)
        return str(stored)

    # tenants

    async def insert_tenant(self, tenant: Tenant, api_key_hash: str, signing_secret: str) -> None:
        await self._execute(
            "INSERT INTO tenants (id, name, parent_id, profile, require_https, api_key_hash, signing_secret,"
            " created_at, uid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", tenant.id, tenant.name, tenant.parent_id,
            tenant.profile, tenant.require_https, api_key_hash, self._box.seal(signing_secret), tenant.created_at,
            tenant.uid)

    async def tenant_by_uid(self, uid: str) -> Tenant | None:
        row = await self._fetchrow("SELECT * FROM tenants WHERE uid = $1", uid)
        return tenant_of(row) if row else None

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = await self._fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)
        return tenant_of(row) if row else None

    async def tenant_by_key_hash(self, api_key_hash: str) -> Tenant | None:
        row = await self._fetchrow("SELECT * FROM tenants WHERE api_key_hash = $1", api_key_hash)
        return tenant_of(row) if row else None

    async def tenant_signing_secret(self, tenant_id: str) -> str:
        row = await self._fetchrow("SELECT signing_secret FROM tenants WHERE id = $1", tenant_id)
        if row is None:
            raise LookupError(f"tenant {tenant_id} not found")
        return self._box.open(row[0])

    async def descendant_ids(self, tenant_id: str) -> list[str]:
        rows = await self._fetch(
            "WITH RECURSIVE tree(id) AS (SELECT $1::text UNION SELECT t.id FROM tenants t JOIN tree"
            " ON t.parent_id = tree.id) SELECT id FROM tree", tenant_id)
        return [row[0] for row in rows]

    async def list_tenants(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None) -> Page[Tenant]:
        where = Where().scope(tenant_ids, "id").keyset(cursor)
        rows = await self._fetch(f"SELECT * FROM tenants WHERE {where.sql()} ORDER BY created_at DESC, id DESC"
                                 f" LIMIT {where.arg(limit + 1)}", *where.params)
        return page_of(rows, limit, tenant_of)

    # endpoints

    def _endpoint_values(self, endpoint: Endpoint) -> list[Any]:
        return [bool(value) if name in BOOLEAN_ENDPOINT_COLUMNS else value
                for name, value in zip(EndpointCodec.COLUMNS, self._codec.to_row(endpoint), strict=True)]

    async def insert_endpoint(self, endpoint: Endpoint) -> None:
        columns = EndpointCodec.COLUMNS
        placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        await self._execute(f"INSERT INTO endpoints ({', '.join(columns)}) VALUES ({placeholders})",
                            *self._endpoint_values(endpoint))

    async def update_endpoint(self, endpoint: Endpoint) -> None:
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(EndpointCodec.COLUMNS[1:], start=2))
        await self._execute(f"UPDATE endpoints SET {assignments} WHERE id = $1", *self._endpoint_values(endpoint))

    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        row = await self._fetchrow("SELECT * FROM endpoints WHERE id = $1", endpoint_id)
        return self._codec.from_row(row) if row else None

    async def list_endpoints(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None
                             ) -> Page[Endpoint]:
        where = Where().scope(tenant_ids, "tenant_id").keyset(cursor)
        where.conditions.append("deleted_at IS NULL")
        rows = await self._fetch(f"SELECT * FROM endpoints WHERE {where.sql()} ORDER BY created_at DESC, id DESC"
                                 f" LIMIT {where.arg(limit + 1)}", *where.params)
        return page_of(rows, limit, self._codec.from_row)

    # subjects

    async def insert_subject(self, subject: Subject) -> None:
        s = subject
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO subjects (id, tenant_id, kind, external_id, profile, webhook_url, status, data,"
                " sequence, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                s.id, s.tenant_id, s.kind, s.external_id, s.profile, s.webhook_url, s.status,
                None if s.data is None else orjson.dumps(s.data).decode(), s.sequence, s.created_at, s.updated_at)
            if s.status is not None:
                await conn.execute("INSERT INTO subject_status_history (subject_id, status, at, event_id)"
                                   " VALUES ($1, $2, $3, NULL)", s.id, s.status, s.created_at)

    async def get_subject(self, subject_id: str) -> Subject | None:
        row = await self._fetchrow("SELECT * FROM subjects WHERE id = $1", subject_id)
        return subject_of(row) if row else None

    async def set_subject_status(self, subject_id: str, update: SubjectUpdate, now: float) -> None:
        async with self._tx() as conn:
            await conn.execute("UPDATE subjects SET status = $2, data = coalesce($3, data), updated_at = $4"
                               " WHERE id = $1", subject_id, update.status,
                               None if update.data_json is None else update.data_json.decode(), now)
            await conn.execute("INSERT INTO subject_status_history (subject_id, status, at, event_id)"
                               " VALUES ($1, $2, $3, NULL)", subject_id, update.status, now)

    async def subject_history(self, subject_id: str) -> list[StatusChange]:
        rows = await self._fetch("SELECT status, at, event_id FROM subject_status_history WHERE subject_id = $1"
                                 " ORDER BY at, id", subject_id)
        return [StatusChange(row["status"], row["at"], row["event_id"]) for row in rows]

    async def list_subjects(self, where: SubjectFilter, limit: int, cursor: str | None) -> Page[Subject]:
        sql = Where().scope(where.tenant_ids, "s.tenant_id")
        if where.kind is not None:
            sql.conditions.append(f"s.kind = {sql.arg(where.kind)}")
        if where.delivery_status is not None:
            sql.conditions.append(status_condition(where.delivery_status, SUBJECT_HAS_DELIVERY))
        sql.keyset(cursor, "s.")
        rows = await self._fetch(f"SELECT s.* FROM subjects s WHERE {sql.sql()} ORDER BY s.created_at DESC,"
                                 f" s.id DESC LIMIT {sql.arg(limit + 1)}", *sql.params)
        return page_of(rows, limit, subject_of)

    async def subject_delivery_summary(self, subject_id: str) -> dict[str, int]:
        rows = await self._fetch("SELECT d.status, count(*) FROM deliveries d JOIN events e ON e.id = d.event_id"
                                 " WHERE e.subject_id = $1 GROUP BY d.status", subject_id)
        summary = {status.value: 0 for status in DeliveryStatus}
        summary.update({row[0]: row[1] for row in rows})
        return summary

    # events

    async def publish(self, drafts: Sequence[EventDraft], router: Router) -> list[Published]:
        async with self._tx() as conn:
            earlier = await self._earlier_events(conn, drafts)
            endpoints_of: dict[str, list[Endpoint]] = {}
            batch = PublishBatch()
            published = []
            for draft in drafts:
                key = (draft.tenant_id, draft.idempotency_key)
                if key in earlier:
                    first = earlier[key]
                    published.append(Published(first.event, list(first.deliveries), duplicate=True))
                    continue
                if draft.tenant_id not in endpoints_of:
                    endpoints_of[draft.tenant_id] = [self._codec.from_row(r) for r in await conn.fetch(
                        "SELECT * FROM endpoints WHERE tenant_id = $1 AND enabled AND deleted_at IS NULL",
                        draft.tenant_id)]
                subject = await self._advance_subject(conn, draft, batch) if draft.subject_id is not None else None
                made = batch.add(draft, subject, router(draft, subject, endpoints_of[draft.tenant_id]))
                published.append(made)
                if draft.idempotency_key is not None:
                    earlier[key] = made
            await batch.insert(conn)
        return published

    async def _earlier_events(self, conn: asyncpg.Connection, drafts: Sequence[EventDraft]
                              ) -> dict[tuple[str, str | None], Published]:
        """The events that already hold the drafts' idempotency keys, after locking those keys until commit (so a
        concurrent publisher of the same key waits and then finds this one's event)."""
        keyed = sorted({(d.tenant_id, d.idempotency_key) for d in drafts if d.idempotency_key is not None})
        if not keyed:
            return {}
        tenant_ids, keys = [k[0] for k in keyed], [k[1] for k in keyed]
        await conn.execute(LOCK_IDEMPOTENCY_KEYS, tenant_ids, keys)
        rows = await conn.fetch(
            "SELECT e.* FROM events e JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, key)"
            " ON e.tenant_id = k.tenant_id AND e.idempotency_key = k.key", tenant_ids, keys)
        if not rows:
            return {}
        deliveries: dict[str, list[Delivery]] = {row["id"]: [] for row in rows}
        for row in await conn.fetch("SELECT * FROM deliveries WHERE event_id = ANY($1::text[]) ORDER BY id",
                                    list(deliveries)):
            deliveries[row["event_id"]].append(delivery_of(row))
        return {(row["tenant_id"], row["idempotency_key"]): Published(event_of(row), deliveries[row["id"]], True)
                for row in rows}

    @staticmethod
    async def _advance_subject(conn: asyncpg.Connection, draft: EventDraft, batch: PublishBatch) -> Subject | None:
        update = draft.subject_update
        if update is None:
            row = await conn.fetchrow("UPDATE subjects SET sequence = sequence + 1 WHERE id = $1 RETURNING *",
                                      draft.subject_id)
        else:
            row = await conn.fetchrow(
                "UPDATE subjects SET sequence = sequence + 1, status = $2, data = coalesce($3, data),"
                " updated_at = $4 WHERE id = $1 RETURNING *", draft.subject_id, update.status,
                None if update.data_json is None else update.data_json.decode(), draft.created_at)
            batch.history.append((draft.subject_id, update.status, draft.created_at, draft.id))
        return subject_of(row) if row else None

    async def get_event(self, event_id: str) -> Event | None:
        row = await self._fetchrow("SELECT * FROM events WHERE id = $1", event_id)
        return event_of(row) if row else None

    async def list_events(self, where: EventFilter, limit: int, cursor: str | None) -> Page[Event]:
        sql = Where().scope(where.tenant_ids, "e.tenant_id")
        for column, value in (("type", where.type), ("subject_id", where.subject_id)):
            if value is not None:
                sql.conditions.append(f"e.{column} = {sql.arg(value)}")
        if where.endpoint_id is not None:
            sql.conditions.append("EXISTS (SELECT 1 FROM deliveries de WHERE de.event_id = e.id"
                                  f" AND de.endpoint_id = {sql.arg(where.endpoint_id)})")
        if where.since is not None:
            sql.conditions.append(f"e.created_at >= {sql.arg(where.since)}")
        if where.until is not None:
            sql.conditions.append(f"e.created_at < {sql.arg(where.until)}")
        if where.delivery_status is not None:
            sql.conditions.append(status_condition(where.delivery_status, EVENT_HAS_DELIVERY))
        sql.keyset(cursor, "e.")
        rows = await self._fetch(f"SELECT e.* FROM events e WHERE {sql.sql()} ORDER BY e.created_at DESC,"
                                 f" e.id DESC LIMIT {sql.arg(limit + 1)}", *sql.params)
        return page_of(rows, limit, event_of)

    async def deliveries_of(self, event_id: str, with_attempts: bool = True) -> list[Delivery]:
        async with self._tx() as conn:
            deliveries = [delivery_of(r) for r in await conn.fetch(
                "SELECT * FROM deliveries WHERE event_id = $1 ORDER BY id", event_id)]
            if with_attempts and deliveries:
                by_id = {d.id: d for d in deliveries}
                for row in await conn.fetch("SELECT * FROM attempts WHERE delivery_id = ANY($1::text[])"
                                            " ORDER BY delivery_id, number", list(by_id)):
                    by_id[row["delivery_id"]].attempts.append(attempt_of(row))
        return deliveries

    async def event_delivery_statuses(self, event_ids: Sequence[str]) -> dict[str, DeliveryStatus | None]:
        if not event_ids:
            return {}
        rows = await self._fetch("SELECT event_id, status FROM deliveries WHERE event_id = ANY($1::text[])",
                                 list(event_ids))
        statuses: dict[str, set[str]] = {event_id: set() for event_id in event_ids}
        for row in rows:
            statuses[row[0]].add(row[1])
        return {event_id: rollup(found) for event_id, found in statuses.items()}

    async def _requeue(self, condition: str, now: float, *args: Any) -> int:
        async with self._tx() as conn:
            count = row_count(await conn.execute(REQUEUE + condition, now, *args))
            if count:
                await conn.execute(NOTIFY_WORK)
        return count

    async def redeliver_event(self, event_id: str, now: float) -> int:
        return await self._requeue("event_id = $2 AND (endpoint_id IS NULL OR endpoint_id IN"
                                   " (SELECT id FROM endpoints WHERE deleted_at IS NULL))", now, event_id)

    async def recover_endpoint(self, endpoint_id: str, since: float, until: float, now: float) -> int:
        return await self._requeue("endpoint_id = $2 AND status = 'failed' AND created_at >= $3 AND created_at < $4",
                                   now, endpoint_id, since, until)

    async def upsert_event_type(self, name: str, description: str, schema_json: bytes, now: float) -> None:
        await self._execute(
            "INSERT INTO event_types (name, description, schema, created_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (name) DO UPDATE SET description = excluded.description, schema = excluded.schema",
            name, description, schema_json.decode(), now)

    async def list_event_types(self) -> list[tuple[str, str, bytes]]:
        rows = await self._fetch("SELECT name, description, schema FROM event_types ORDER BY name")
        return [(row[0], row[1], row[2].encode()) for row in rows]

    # the dispatcher's hot path

    async def claim_due(self, now: float, limit: int) -> list[DueDelivery]:
        async with self._conns.claiming() as conn:
            rows = await conn.fetch(CLAIM_DUE, now, limit)
        return [DueDelivery(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                            row[9].encode(), row[10], row[11], row[12], row[13], row[14], row[15]) for row in rows]

    async def extend_leases(self, delivery_ids: Sequence[str], now: float) -> None:
        await self._execute("UPDATE deliveries SET leased_until = $1 + lease_s WHERE id = ANY($2::text[])"
                            " AND status = 'pending'", now, sorted(delivery_ids))

    async def defer(self, deferrals: Sequence[tuple[str, float]], now: float) -> None:
        ordered = sorted(deferrals)  # the lock order of record_results
        await self._execute(DEFER, [d[0] for d in ordered], [d[1] for d in ordered], now)

    async def record_results(self, results: Sequence[DeliveryResult], now: float) -> None:
        if not results:
            return
        ordered = sorted(results, key=lambda r: r.delivery_id)  # one lock order for every writer: no deadlocks
        rows = results_json(ordered)
        disabled = sorted({r.disable_endpoint_id: r.disable_reason for r in ordered if r.disable_endpoint_id}.items())
        firsts = [(self._box.seal(r.first_request.decode()), r.delivery_id) for r in ordered if r.first_request]
        if not disabled and not firsts:
            await self._execute(RECORD_RESULTS, rows, now)
            return
        async with self._tx() as conn:
            await conn.execute(RECORD_RESULTS, rows, now)
            if disabled:
                await conn.execute(DISABLE_ENDPOINTS, [d[0] for d in disabled], [d[1] for d in disabled], now)
            if firsts:
                await conn.executemany("UPDATE deliveries SET first_request = $1 WHERE id = $2", firsts)

    async def first_request(self, delivery_id: str) -> bytes | None:
        row = await self._fetchrow("SELECT first_request FROM deliveries WHERE id = $1", delivery_id)
        return None if row is None or row[0] is None else self._box.open(row[0]).encode()

    async def next_due_at(self) -> float | None:
        row = await self._fetchrow("SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'")
        return row[0] if row else None

    async def queue_stats(self) -> QueueStats:
        row = await self._fetchrow("SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'")
        assert row is not None
        return QueueStats(row[0], row[1])
