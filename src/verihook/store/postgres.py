"""The shared store: PostgreSQL through asyncpg, for any number of API and worker processes.

Same behaviour as the SQLite store, method for method (tests/integration/test_store_contract.py runs against
both). What differs is how many processes may share it:

- claims take rows with `FOR UPDATE SKIP LOCKED` and stamp a lease in the same statement, so workers never
  wait for each other and a dead worker's claims come back when their lease runs out;
- every transaction that makes deliveries due sends NOTIFY on WORK_CHANNEL, and workers LISTEN
  (`listen_for_work`), so a published event leaves at once from whichever worker is free;
- idempotency keys are serialised across processes by a transaction-scoped advisory lock per key;
- the hot path is batched: one statement claims, COPY writes attempts, one UPDATE over unnest() arrays
  acknowledges.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
import orjson

from verihook.crypto import SecretBox
from verihook.errors import InvalidInput
from verihook.model import (
    Attempt,
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
from verihook.store.codec import EndpointCodec, decode_cursor, encode_cursor, loads_or_none
from verihook.store.postgres_conn import WORK_CHANNEL, Connections, dsn_of

T = TypeVar("T")
Row = Mapping[str, Any]

ATTEMPT_COLUMNS = ("delivery_id", "number", "at", "status_code", "latency_ms", "error", "error_detail",
                   "request_headers", "response_headers", "response_body")
BOOLEAN_ENDPOINT_COLUMNS = frozenset({"enabled", "signing_enabled"})
IDEMPOTENCY_LOCK_CLASS = 0x5648  # first half of the advisory lock key taken per (tenant, idempotency key)
NOTIFY_WORK = f"NOTIFY {WORK_CHANNEL}"

LOCK_IDEMPOTENCY_KEYS = (
    f"SELECT pg_advisory_xact_lock({IDEMPOTENCY_LOCK_CLASS}, h) FROM"
    " (SELECT DISTINCT hashtext(t || '|' || k) AS h FROM unnest($1::text[], $2::text[]) AS x(t, k)) s ORDER BY h")
INSERT_EVENTS = (
    "INSERT INTO events (id, tenant_id, type, data, subject_id, sequence, idempotency_key, created_at)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],"
    " $8::float8[])")
INSERT_DELIVERIES = (
    "INSERT INTO deliveries (id, event_id, tenant_id, endpoint_id, url, status, next_attempt_at, lease_s,"
    " created_at, updated_at)"
    " SELECT id, event_id, tenant_id, endpoint_id, url, 'pending', at, lease_s, at, at FROM unnest($1::text[],"
    " $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[])"
    " AS d(id, event_id, tenant_id, endpoint_id, url, at, lease_s)")
INSERT_HISTORY = (
    "INSERT INTO subject_status_history (subject_id, status, at, event_id)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[])")
CLAIM_DUE = """
WITH due AS (
    SELECT id FROM deliveries
    WHERE status = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until <= $1)
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE deliveries d SET leased_until = $1 + d.lease_s FROM due WHERE d.id = due.id
    RETURNING d.id, d.event_id, d.tenant_id, d.endpoint_id, d.url, d.attempt_count, d.cycle_attempts,
              d.created_at, d.next_attempt_at
)
SELECT c.id, c.event_id, c.tenant_id, c.endpoint_id, c.url, c.attempt_count, c.cycle_attempts, c.created_at,
       e.type, e.data, e.created_at AS event_created_at, e.subject_id, e.sequence,
       s.profile AS subject_profile, ep.updated_at AS endpoint_version
FROM claimed c JOIN events e ON e.id = c.event_id
LEFT JOIN subjects s ON s.id = e.subject_id LEFT JOIN endpoints ep ON ep.id = c.endpoint_id
ORDER BY c.next_attempt_at
"""
ACKNOWLEDGE = (
    "UPDATE deliveries d SET status = r.status, attempt_count = d.attempt_count + 1,"
    " cycle_attempts = d.cycle_attempts + 1, next_attempt_at = r.next_at, leased_until = NULL,"
    " last_status_code = r.code, last_error = r.error, updated_at = $6"
    " FROM unnest($1::text[], $2::text[], $3::float8[], $4::int[], $5::text[]) AS r(id, status, next_at, code, error)"
    " WHERE d.id = r.id")
DISABLE_ENDPOINTS = (
    "UPDATE endpoints SET enabled = false, disabled_reason = r.reason, updated_at = $3"
    " FROM unnest($1::text[], $2::text[]) AS r(id, reason) WHERE endpoints.id = r.id")
REQUEUE = ("UPDATE deliveries SET status = 'pending', cycle_attempts = 0, next_attempt_at = $1, leased_until = NULL,"
           " updated_at = $1 WHERE ")

EVENT_HAS_DELIVERY = "EXISTS (SELECT 1 FROM deliveries dd WHERE dd.event_id = e.id AND dd.status = '%s')"
SUBJECT_HAS_DELIVERY = ("EXISTS (SELECT 1 FROM events se JOIN deliveries sd ON sd.event_id = se.id"
                        " WHERE se.subject_id = s.id AND sd.status = '%s')")


def _status_condition(status: DeliveryStatus, has_delivery: str) -> str:
    """SQL true when the rolled-up status is `status`: failed beats pending beats succeeded."""
    if status is DeliveryStatus.FAILED:
        return has_delivery % "failed"
    if status is DeliveryStatus.PENDING:
        return f"NOT {has_delivery % 'failed'} AND {has_delivery % 'pending'}"
    return f"NOT {has_delivery % 'failed'} AND NOT {has_delivery % 'pending'} AND {has_delivery % 'succeeded'}"


def _clean(text: str | None) -> str | None:
    """PostgreSQL text holds no NUL; a receiver's answer may. Recording it must never fail."""
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


def _tenant(row: Row) -> Tenant:
    return Tenant(id=row["id"], name=row["name"], parent_id=row["parent_id"], profile=row["profile"],
                  require_https=row["require_https"], created_at=row["created_at"])


def _subject(row: Row) -> Subject:
    return Subject(id=row["id"], tenant_id=row["tenant_id"], kind=row["kind"], external_id=row["external_id"],
                   profile=row["profile"], webhook_url=row["webhook_url"], status=row["status"],
                   data=loads_or_none(row["data"]), sequence=row["sequence"], created_at=row["created_at"],
                   updated_at=row["updated_at"])


def _event(row: Row) -> Event:
    return Event(id=row["id"], tenant_id=row["tenant_id"], type=row["type"], data=orjson.loads(row["data"]),
                 subject_id=row["subject_id"], sequence=row["sequence"],
                 idempotency_key=row["idempotency_key"], created_at=row["created_at"])


def _delivery(row: Row) -> Delivery:
    return Delivery(id=row["id"], event_id=row["event_id"], tenant_id=row["tenant_id"],
                    endpoint_id=row["endpoint_id"], url=row["url"], status=DeliveryStatus(row["status"]),
                    attempt_count=row["attempt_count"], cycle_attempts=row["cycle_attempts"],
                    next_attempt_at=row["next_attempt_at"], created_at=row["created_at"],
                    updated_at=row["updated_at"], last_status_code=row["last_status_code"],
                    last_error=row["last_error"])


def _attempt(row: Row) -> Attempt:
    return Attempt(delivery_id=row["delivery_id"], number=row["number"], at=row["at"],
                   status_code=row["status_code"], latency_ms=row["latency_ms"], error=row["error"],
                   error_detail=row["error_detail"], request_headers=orjson.loads(row["request_headers"]),
                   response_headers=orjson.loads(row["response_headers"]), response_body=row["response_body"])


def _page(rows: Sequence[Row], limit: int, convert: Callable[[Row], T]) -> Page[T]:
    items = [convert(row) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items, encode_cursor(last["created_at"], last["id"]) if last is not None else None)


class _Where:
    """WHERE conditions with numbered parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def arg(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def scope(self, tenant_ids: Sequence[str] | None, column: str) -> _Where:
        if tenant_ids is not None:
            self.conditions.append(f"{column} = ANY({self.arg(list(tenant_ids))}::text[])")
        return self

    def keyset(self, cursor: str | None, table: str = "") -> _Where:
        if cursor:
            created_at, item_id = decode_cursor(cursor)
            self.conditions.append(f"({table}created_at, {table}id) < ({self.arg(created_at)}, {self.arg(item_id)})")
        return self

    def sql(self) -> str:
        return " AND ".join(self.conditions) or "true"


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

    async def put_meta(self, key: str, value: str) -> None:
        await self._execute("INSERT INTO meta (key, value) VALUES ($1, $2)"
                            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)

    # tenants

    async def insert_tenant(self, tenant: Tenant, api_key_hash: str, signing_secret: str) -> None:
        await self._execute(
            "INSERT INTO tenants (id, name, parent_id, profile, require_https, api_key_hash, signing_secret,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", tenant.id, tenant.name, tenant.parent_id,
            tenant.profile, tenant.require_https, api_key_hash, self._box.seal(signing_secret), tenant.created_at)

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = await self._fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)
        return _tenant(row) if row else None

    async def tenant_by_key_hash(self, api_key_hash: str) -> Tenant | None:
        row = await self._fetchrow("SELECT * FROM tenants WHERE api_key_hash = $1", api_key_hash)
        return _tenant(row) if row else None

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
        where = _Where().scope(tenant_ids, "id").keyset(cursor)
        rows = await self._fetch(f"SELECT * FROM tenants WHERE {where.sql()} ORDER BY created_at DESC, id DESC"
                                 f" LIMIT {where.arg(limit + 1)}", *where.params)
        return _page(rows, limit, _tenant)

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
        where = _Where().scope(tenant_ids, "tenant_id").keyset(cursor)
        where.conditions.append("deleted_at IS NULL")
        rows = await self._fetch(f"SELECT * FROM endpoints WHERE {where.sql()} ORDER BY created_at DESC, id DESC"
                                 f" LIMIT {where.arg(limit + 1)}", *where.params)
        return _page(rows, limit, self._codec.from_row)

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
        return _subject(row) if row else None

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
        sql = _Where().scope(where.tenant_ids, "s.tenant_id")
        if where.kind is not None:
            sql.conditions.append(f"s.kind = {sql.arg(where.kind)}")
        if where.delivery_status is not None:
            sql.conditions.append(_status_condition(where.delivery_status, SUBJECT_HAS_DELIVERY))
        sql.keyset(cursor, "s.")
        rows = await self._fetch(f"SELECT s.* FROM subjects s WHERE {sql.sql()} ORDER BY s.created_at DESC,"
                                 f" s.id DESC LIMIT {sql.arg(limit + 1)}", *sql.params)
        return _page(rows, limit, _subject)

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
            batch = _PublishBatch()
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
            deliveries[row["event_id"]].append(_delivery(row))
        return {(row["tenant_id"], row["idempotency_key"]): Published(_event(row), deliveries[row["id"]], True)
                for row in rows}

    @staticmethod
    async def _advance_subject(conn: asyncpg.Connection, draft: EventDraft, batch: _PublishBatch) -> Subject | None:
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
        return _subject(row) if row else None

    async def get_event(self, event_id: str) -> Event | None:
        row = await self._fetchrow("SELECT * FROM events WHERE id = $1", event_id)
        return _event(row) if row else None

    async def list_events(self, where: EventFilter, limit: int, cursor: str | None) -> Page[Event]:
        sql = _Where().scope(where.tenant_ids, "e.tenant_id")
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
            sql.conditions.append(_status_condition(where.delivery_status, EVENT_HAS_DELIVERY))
        sql.keyset(cursor, "e.")
        rows = await self._fetch(f"SELECT e.* FROM events e WHERE {sql.sql()} ORDER BY e.created_at DESC,"
                                 f" e.id DESC LIMIT {sql.arg(limit + 1)}", *sql.params)
        return _page(rows, limit, _event)

    async def deliveries_of(self, event_id: str, with_attempts: bool = True) -> list[Delivery]:
        async with self._tx() as conn:
            deliveries = [_delivery(r) for r in await conn.fetch(
                "SELECT * FROM deliveries WHERE event_id = $1 ORDER BY id", event_id)]
            if with_attempts and deliveries:
                by_id = {d.id: d for d in deliveries}
                for row in await conn.fetch("SELECT * FROM attempts WHERE delivery_id = ANY($1::text[])"
                                            " ORDER BY delivery_id, number, id", list(by_id)):
                    by_id[row["delivery_id"]].attempts.append(_attempt(row))
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
            count = _count(await conn.execute(REQUEUE + condition, now, *args))
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
                            row[9].encode(), row[10], row[11], row[12], row[13], row[14]) for row in rows]

    async def extend_leases(self, delivery_ids: Sequence[str], now: float) -> None:
        await self._execute("UPDATE deliveries SET leased_until = $1 + lease_s WHERE id = ANY($2::text[])"
                            " AND status = 'pending'", now, sorted(delivery_ids))

    async def record_results(self, results: Sequence[DeliveryResult], now: float) -> None:
        if not results:
            return
        ordered = sorted(results, key=lambda r: r.delivery_id)  # one lock order for every writer: no deadlocks
        attempts = [(a.delivery_id, a.number, a.at, a.status_code, a.latency_ms, _clean(a.error),
                     _clean(a.error_detail), orjson.dumps(a.request_headers).decode(),
                     orjson.dumps(a.response_headers).decode(), _clean(a.response_body))
                    for a in (r.attempt for r in ordered)]
        disabled = sorted({r.disable_endpoint_id: r.disable_reason for r in ordered if r.disable_endpoint_id}.items())
        async with self._tx() as conn:
            await conn.copy_records_to_table("attempts", records=attempts, columns=ATTEMPT_COLUMNS)
            await conn.execute(ACKNOWLEDGE, [r.delivery_id for r in ordered], [r.status.value for r in ordered],
                               [r.next_attempt_at for r in ordered], [r.attempt.status_code for r in ordered],
                               [_clean(r.attempt.error) for r in ordered], now)
            if disabled:
                await conn.execute(DISABLE_ENDPOINTS, [d[0] for d in disabled], [d[1] for d in disabled], now)

    async def next_due_at(self) -> float | None:
        row = await self._fetchrow("SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'")
        return row[0] if row else None

    async def queue_stats(self) -> QueueStats:
        row = await self._fetchrow("SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'")
        assert row is not None
        return QueueStats(row[0], row[1])


class _PublishBatch:
    """The rows one publish writes, gathered while routing and written with one statement per table."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.deliveries: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []

    def add(self, draft: EventDraft, subject: Subject | None, destinations: Sequence[Any]) -> Published:
        sequence = subject.sequence if subject is not None else None
        self.events.append((draft.id, draft.tenant_id, draft.type, draft.data_json.decode(), draft.subject_id,
                            sequence, draft.idempotency_key, draft.created_at))
        deliveries = []
        for index, destination in enumerate(destinations):
            delivery = Delivery(
                id=f"{draft.id.replace('evt_', 'dlv_', 1)}{index:03d}", event_id=draft.id,
                tenant_id=draft.tenant_id, endpoint_id=destination.endpoint_id, url=destination.url,
                status=DeliveryStatus.PENDING, attempt_count=0, cycle_attempts=0,
                next_attempt_at=draft.created_at, created_at=draft.created_at, updated_at=draft.created_at)
            deliveries.append(delivery)
            self.deliveries.append((delivery.id, draft.id, draft.tenant_id, destination.endpoint_id,
                                    destination.url, draft.created_at, destination.lease_s))
        event = Event(id=draft.id, tenant_id=draft.tenant_id, type=draft.type, data=orjson.loads(draft.data_json),
                      subject_id=draft.subject_id, sequence=sequence, idempotency_key=draft.idempotency_key,
                      created_at=draft.created_at)
        return Published(event, deliveries, duplicate=False)

    async def insert(self, conn: asyncpg.Connection) -> None:
        if self.events:
            await conn.execute(INSERT_EVENTS, *map(list, zip(*self.events, strict=True)))
        if self.history:
            await conn.execute(INSERT_HISTORY, *map(list, zip(*self.history, strict=True)))
        if self.deliveries:
            await conn.execute(INSERT_DELIVERIES, *map(list, zip(*self.deliveries, strict=True)))
            await conn.execute(NOTIFY_WORK)
