"""The embedded store: one SQLite file in WAL mode.

All writes run on one thread with one connection (SQLite has one writer anyway), each call one transaction;
reads run on a second thread with their own connection, so queries never wait behind the dispatcher's writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson

from verihook.crypto import SecretBox
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
from verihook.store.base import (
    EventDraft,
    EventFilter,
    Published,
    QueueStats,
    Router,
    SubjectFilter,
    SubjectUpdate,
)
from verihook.store.codec import EndpointCodec, decode_cursor, valid_unicode
from verihook.store.rows import attempt_of, delivery_of, event_of, page_of, subject_of, tenant_of
from verihook.store.sqlite_conn import Reader, Writer
from verihook.store.status_sql import EVENT_HAS_DELIVERY, SUBJECT_HAS_DELIVERY, status_condition

T = TypeVar("T")

ATTEMPT_COLUMNS = ("delivery_id", "number", "at", "status_code", "latency_ms", "error", "error_detail",
                   "request_headers", "response_headers", "response_body")


def _exact(column: str) -> str:
    """A REAL column as a JSON number that reads back to the same float (SQLite's JSON keeps 15 digits)."""
    return f"json(iif({column} IS NULL, NULL, printf('%!.17g', {column})))"


# The due deliveries, in due order, as one JSON array of rows (the fields of DueDelivery, in order).
_CLAIM_SQL = (
    "SELECT json_group_array(json_array(id, event_id, tenant_id, endpoint_id, url, attempt_count, cycle_attempts,"
    f" {_exact('created_at')}, type, data, {_exact('event_created_at')}, subject_id, sequence, subject_profile,"
    f" {_exact('endpoint_version')}, {_exact('cycle_started_at')}))"
    " FROM (SELECT d.id, d.event_id, d.tenant_id, d.endpoint_id, d.url, d.attempt_count, d.cycle_attempts,"
    " d.created_at, e.type, e.data, e.created_at AS event_created_at, e.subject_id, e.sequence,"
    " s.profile AS subject_profile, ep.updated_at AS endpoint_version, d.cycle_started_at"
    " FROM deliveries d JOIN events e ON e.id = d.event_id"
    " LEFT JOIN subjects s ON s.id = e.subject_id LEFT JOIN endpoints ep ON ep.id = d.endpoint_id"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.leased_until IS NULL OR d.leased_until <= ?)"
    " ORDER BY d.next_attempt_at LIMIT ?)"
)
_LEASE_CLAIMED_SQL = (
    "UPDATE deliveries SET leased_until = ? + lease_s WHERE id IN (SELECT value->>0 FROM json_each(?))"
)
_INSERT_ATTEMPTS_SQL = (
    f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) SELECT "
    + ", ".join(f"value->>{i}" for i in range(len(ATTEMPT_COLUMNS)))
    + " FROM json_each(?)"
)
# An attempt of a cycle that a redeliver or recover has replaced (its cycle start no longer matches): recorded,
# but unless it succeeded the delivery stays due for the new cycle, which it does not count towards.
_STALE = "(j.value->>5 IS NOT NULL AND deliveries.cycle_started_at IS NOT j.value->>5)"
_UPDATE_DELIVERIES_SQL = (
    f"UPDATE deliveries SET"
    f" status = iif({_STALE} AND j.value->>1 <> 'succeeded', 'pending', j.value->>1),"
    f" attempt_count = attempt_count + 1, cycle_attempts = cycle_attempts + iif({_STALE}, 0, 1),"
    f" next_attempt_at = iif({_STALE} AND j.value->>1 <> 'succeeded', next_attempt_at, j.value->>2),"
    " leased_until = NULL, last_status_code = j.value->>3, last_error = j.value->>4, updated_at = ?"
    " FROM json_each(?) AS j WHERE deliveries.id = j.value->>0"
)

_DEFER_SQL = (
    "UPDATE deliveries SET next_attempt_at = j.value->>1, leased_until = NULL, updated_at = ?"
    " FROM json_each(?) AS j WHERE deliveries.id = j.value->>0 AND deliveries.status = 'pending'"
)


def migration_scripts() -> list[tuple[str, str]]:
    folder = resources.files("verihook.store") / "sql" / "sqlite"
    scripts = sorted((entry.name, entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), text) for name, text in scripts]


def _in(ids: Sequence[Any]) -> str:
    return "(" + ",".join("?" * len(ids)) + ")"


def _keyset(cursor: str | None, where: list[str], params: list[Any], table: str = "") -> None:
    if cursor:
        created_at, item_id = decode_cursor(cursor)
        where.append(f"({table}created_at, {table}id) < (?, ?)")
        params += [created_at, item_id]


class SqliteStore:
    def __init__(self, path: Path | str, box: SecretBox) -> None:
        self.path = Path(path)
        self._codec = EndpointCodec(box)
        self._box = box
        self._writer = Writer(self.path)
        self._reader = Reader(self.path)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._writer.run(fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._reader.run(fn)

    async def migrate(self) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at REAL)")
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            applied = []
            for version, script in migration_scripts():
                if version in done:
                    continue
                record = f"INSERT INTO schema_migrations VALUES ('{version}', CAST(strftime('%s', 'now') AS REAL));"
                conn.executescript(f"BEGIN IMMEDIATE;\n{script}\n{record}\nCOMMIT;")
                applied.append(version)
            return applied

        return await self._writer.run(run, transaction=False)

    async def close(self) -> None:
        self._writer.close()
        self._reader.close()

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def listen_for_work(self, callback: Callable[[], None]) -> None:
        """Nothing to listen to: one process owns the file, and publishing wakes its dispatcher in-process."""

    async def get_meta(self, key: str) -> str | None:
        row = await self._read(lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone())
        return row[0] if row else None

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        def run(conn: sqlite3.Connection) -> str:  # one write transaction: the file's lock makes it atomic
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
            return str(conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

        return await self._write(run)

    # tenants

    async def insert_tenant(self, tenant: Tenant, api_key_hash: str, signing_secret: str) -> None:
        sealed = self._box.seal(signing_secret)
        await self._write(lambda conn: conn.execute(
            "INSERT INTO tenants (id, name, parent_id, profile, require_https, api_key_hash, signing_secret,"
            " created_at, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (tenant.id, tenant.name, tenant.parent_id, tenant.profile, int(tenant.require_https), api_key_hash,
             sealed, tenant.created_at, tenant.uid)))

    async def tenant_by_uid(self, uid: str) -> Tenant | None:
        row = await self._read(lambda c: c.execute("SELECT * FROM tenants WHERE uid = ?", (uid,)).fetchone())
        return tenant_of(row) if row else None

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = await self._read(lambda c: c.execute("SELECT * FROM tenants WHERE id = ?", (tenant_id,)).fetchone())
        return tenant_of(row) if row else None

    async def tenant_by_key_hash(self, api_key_hash: str) -> Tenant | None:
        row = await self._read(lambda c: c.execute(
            "SELECT * FROM tenants WHERE api_key_hash = ?", (api_key_hash,)).fetchone())
        return tenant_of(row) if row else None

    async def tenant_signing_secret(self, tenant_id: str) -> str:
        row = await self._read(lambda c: c.execute(
            "SELECT signing_secret FROM tenants WHERE id = ?", (tenant_id,)).fetchone())
        return self._box.open(row[0])

    async def descendant_ids(self, tenant_id: str) -> list[str]:
        rows = await self._read(lambda c: c.execute(
            "WITH RECURSIVE tree(id) AS (SELECT ? UNION SELECT t.id FROM tenants t JOIN tree ON t.parent_id = tree.id)"
            " SELECT id FROM tree", (tenant_id,)).fetchall())
        return [row[0] for row in rows]

    async def list_tenants(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None) -> Page[Tenant]:
        where, params = self._scope("", tenant_ids, "id")
        _keyset(cursor, where, params)
        sql = f"SELECT * FROM tenants WHERE {' AND '.join(where) or '1'} ORDER BY created_at DESC, id DESC LIMIT ?"
        rows = await self._read(lambda c: c.execute(sql, (*params, limit + 1)).fetchall())
        return page_of(rows, limit, tenant_of)

    @staticmethod
    def _scope(prefix: str, tenant_ids: Sequence[str] | None, column: str = "tenant_id"
               ) -> tuple[list[str], list[Any]]:
        if tenant_ids is None:
            return [], []
        return [f"{prefix}{column} IN {_in(tenant_ids)}"], list(tenant_ids)

    # endpoints

    async def insert_endpoint(self, endpoint: Endpoint) -> None:
        columns = ", ".join(EndpointCodec.COLUMNS)
        values = self._codec.to_row(endpoint)
        await self._write(lambda c: c.execute(
            f"INSERT INTO endpoints ({columns}) VALUES {_in(values)}", values))

    async def update_endpoint(self, endpoint: Endpoint) -> None:
        assignments = ", ".join(f"{name} = ?" for name in EndpointCodec.COLUMNS[1:])
        values = self._codec.to_row(endpoint)
        await self._write(lambda c: c.execute(
            f"UPDATE endpoints SET {assignments} WHERE id = ?", (*values[1:], endpoint.id)))

    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        row = await self._read(lambda c: c.execute(
            "SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)).fetchone())
        return self._codec.from_row(row) if row else None

    async def list_endpoints(self, tenant_ids: Sequence[str] | None, limit: int, cursor: str | None
                             ) -> Page[Endpoint]:
        where, params = self._scope("", tenant_ids)
        where.append("deleted_at IS NULL")
        _keyset(cursor, where, params)
        sql = f"SELECT * FROM endpoints WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?"
        rows = await self._read(lambda c: c.execute(sql, (*params, limit + 1)).fetchall())
        return page_of(rows, limit, self._codec.from_row)

    # subjects

    async def insert_subject(self, subject: Subject) -> None:
        s = subject

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO subjects (id, tenant_id, kind, external_id, profile, webhook_url, status, data,"
                " sequence, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (s.id, s.tenant_id, s.kind, s.external_id, s.profile, s.webhook_url, s.status,
                 None if s.data is None else orjson.dumps(s.data).decode(), s.sequence, s.created_at,
                 s.updated_at))
            if s.status is not None:
                conn.execute("INSERT INTO subject_status_history (subject_id, status, at, event_id)"
                             " VALUES (?, ?, ?, NULL)", (s.id, s.status, s.created_at))

        await self._write(run)

    async def get_subject(self, subject_id: str) -> Subject | None:
        row = await self._read(lambda c: c.execute(
            "SELECT * FROM subjects WHERE id = ?", (subject_id,)).fetchone())
        return subject_of(row) if row else None

    async def set_subject_status(self, subject_id: str, update: SubjectUpdate, now: float) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE subjects SET status = ?, data = coalesce(?, data), updated_at = ? WHERE id = ?",
                         (update.status, None if update.data_json is None else update.data_json.decode(), now,
                          subject_id))
            conn.execute("INSERT INTO subject_status_history (subject_id, status, at, event_id)"
                         " VALUES (?, ?, ?, NULL)", (subject_id, update.status, now))

        await self._write(run)

    async def subject_history(self, subject_id: str) -> list[StatusChange]:
        rows = await self._read(lambda c: c.execute(
            "SELECT status, at, event_id FROM subject_status_history WHERE subject_id = ? ORDER BY at, rowid",
            (subject_id,)).fetchall())
        return [StatusChange(row["status"], row["at"], row["event_id"]) for row in rows]

    async def list_subjects(self, where: SubjectFilter, limit: int, cursor: str | None) -> Page[Subject]:
        conditions, params = self._scope("s.", where.tenant_ids)
        if where.kind is not None:
            conditions.append("s.kind = ?")
            params.append(where.kind)
        if where.delivery_status is not None:
            conditions.append(status_condition(where.delivery_status, SUBJECT_HAS_DELIVERY))
        _keyset(cursor, conditions, params, "s.")
        sql = (f"SELECT s.* FROM subjects s WHERE {' AND '.join(conditions) or '1'}"
               " ORDER BY s.created_at DESC, s.id DESC LIMIT ?")
        rows = await self._read(lambda c: c.execute(sql, (*params, limit + 1)).fetchall())
        return page_of(rows, limit, subject_of)

    async def subject_delivery_summary(self, subject_id: str) -> dict[str, int]:
        rows = await self._read(lambda c: c.execute(
            "SELECT d.status, count(*) FROM deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE e.subject_id = ? GROUP BY d.status", (subject_id,)).fetchall())
        summary = {status.value: 0 for status in DeliveryStatus}
        summary.update({row[0]: row[1] for row in rows})
        return summary

    # events

    async def publish(self, drafts: Sequence[EventDraft], router: Router) -> list[Published]:
        def run(conn: sqlite3.Connection) -> list[Published]:
            endpoints_of: dict[str, list[Endpoint]] = {}
            published = []
            for draft in drafts:
                if draft.idempotency_key is not None:
                    row = conn.execute("SELECT * FROM events WHERE tenant_id = ? AND idempotency_key = ?",
                                       (draft.tenant_id, draft.idempotency_key)).fetchone()
                    if row is not None:
                        deliveries = [delivery_of(r) for r in conn.execute(
                            "SELECT * FROM deliveries WHERE event_id = ? ORDER BY id", (row["id"],))]
                        published.append(Published(event_of(row), deliveries, duplicate=True))
                        continue
                if draft.tenant_id not in endpoints_of:
                    endpoints_of[draft.tenant_id] = [self._codec.from_row(r) for r in conn.execute(
                        "SELECT * FROM endpoints WHERE tenant_id = ? AND enabled = 1 AND deleted_at IS NULL",
                        (draft.tenant_id,))]
                published.append(self._insert_event(conn, draft, router, endpoints_of[draft.tenant_id]))
            return published

        return await self._write(run)

    def _insert_event(self, conn: sqlite3.Connection, draft: EventDraft, router: Router,
                      endpoints: list[Endpoint]) -> Published:
        subject, sequence = None, None
        if draft.subject_id is not None:
            update = draft.subject_update
            if update is None:
                row = conn.execute("UPDATE subjects SET sequence = sequence + 1 WHERE id = ? RETURNING *",
                                   (draft.subject_id,)).fetchone()
            else:
                row = conn.execute(
                    "UPDATE subjects SET sequence = sequence + 1, status = ?, data = coalesce(?, data),"
                    " updated_at = ? WHERE id = ? RETURNING *",
                    (update.status, None if update.data_json is None else update.data_json.decode(),
                     draft.created_at, draft.subject_id)).fetchone()
                conn.execute("INSERT INTO subject_status_history (subject_id, status, at, event_id)"
                             " VALUES (?, ?, ?, ?)", (draft.subject_id, update.status, draft.created_at, draft.id))
            subject = subject_of(row)
            sequence = subject.sequence
        conn.execute(
            "INSERT INTO events (id, tenant_id, type, data, subject_id, sequence, idempotency_key, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (draft.id, draft.tenant_id, draft.type, draft.data_json.decode(), draft.subject_id, sequence,
             draft.idempotency_key, draft.created_at))
        deliveries = []
        for index, destination in enumerate(router(draft, subject, endpoints)):
            delivery = Delivery(
                id=f"{draft.id.replace('evt_', 'dlv_', 1)}{index:03d}", event_id=draft.id,
                tenant_id=draft.tenant_id, endpoint_id=destination.endpoint_id, url=destination.url,
                status=DeliveryStatus.PENDING, attempt_count=0, cycle_attempts=0,
                next_attempt_at=draft.created_at, created_at=draft.created_at, updated_at=draft.created_at)
            deliveries.append((delivery, destination.lease_s))
        conn.executemany(
            "INSERT INTO deliveries (id, event_id, tenant_id, endpoint_id, url, status, next_attempt_at, lease_s,"
            " created_at, updated_at, cycle_started_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
            [(d.id, d.event_id, d.tenant_id, d.endpoint_id, d.url, d.next_attempt_at, lease_s, d.created_at,
              d.updated_at, d.created_at) for d, lease_s in deliveries])
        event = Event(id=draft.id, tenant_id=draft.tenant_id, type=draft.type, data=orjson.loads(draft.data_json),
                      subject_id=draft.subject_id, sequence=sequence, idempotency_key=draft.idempotency_key,
                      created_at=draft.created_at)
        return Published(event, [d for d, _ in deliveries], duplicate=False)

    async def get_event(self, event_id: str) -> Event | None:
        row = await self._read(lambda c: c.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone())
        return event_of(row) if row else None

    async def list_events(self, where: EventFilter, limit: int, cursor: str | None) -> Page[Event]:
        conditions, params = self._scope("e.", where.tenant_ids)
        for column, value in (("type", where.type), ("subject_id", where.subject_id)):
            if value is not None:
                conditions.append(f"e.{column} = ?")
                params.append(value)
        if where.endpoint_id is not None:
            conditions.append("EXISTS (SELECT 1 FROM deliveries de WHERE de.event_id = e.id AND de.endpoint_id = ?)")
            params.append(where.endpoint_id)
        if where.since is not None:
            conditions.append("e.created_at >= ?")
            params.append(where.since)
        if where.until is not None:
            conditions.append("e.created_at < ?")
            params.append(where.until)
        if where.delivery_status is not None:
            conditions.append(status_condition(where.delivery_status, EVENT_HAS_DELIVERY))
        _keyset(cursor, conditions, params, "e.")
        sql = (f"SELECT e.* FROM events e WHERE {' AND '.join(conditions) or '1'}"
               " ORDER BY e.created_at DESC, e.id DESC LIMIT ?")
        rows = await self._read(lambda c: c.execute(sql, (*params, limit + 1)).fetchall())
        return page_of(rows, limit, event_of)

    async def deliveries_of(self, event_id: str, with_attempts: bool = True) -> list[Delivery]:
        def run(conn: sqlite3.Connection) -> list[Delivery]:
            deliveries = [delivery_of(r) for r in conn.execute(
                "SELECT * FROM deliveries WHERE event_id = ? ORDER BY id", (event_id,))]
            if with_attempts and deliveries:
                by_id = {d.id: d for d in deliveries}
                for row in conn.execute(
                        f"SELECT * FROM attempts WHERE delivery_id IN {_in(list(by_id))} ORDER BY delivery_id, number",
                        list(by_id)):
                    by_id[row["delivery_id"]].attempts.append(attempt_of(row))
            return deliveries

        return await self._read(run)

    async def event_delivery_statuses(self, event_ids: Sequence[str]) -> dict[str, DeliveryStatus | None]:
        if not event_ids:
            return {}
        rows = await self._read(lambda c: c.execute(
            f"SELECT event_id, status FROM deliveries WHERE event_id IN {_in(event_ids)}", list(event_ids)).fetchall())
        statuses: dict[str, set[str]] = {event_id: set() for event_id in event_ids}
        for row in rows:
            statuses[row[0]].add(row[1])
        return {event_id: rollup(found) for event_id, found in statuses.items()}

    async def redeliver_event(self, event_id: str, now: float) -> int:
        cursor = await self._write(lambda c: c.execute(
            "UPDATE deliveries SET status = 'pending', cycle_attempts = 0, cycle_started_at = ?, next_attempt_at = ?,"
            " updated_at = ? WHERE event_id = ? AND (endpoint_id IS NULL OR endpoint_id IN"
            " (SELECT id FROM endpoints WHERE deleted_at IS NULL))", (now, now, now, event_id)))
        return cursor.rowcount

    async def recover_endpoint(self, endpoint_id: str, since: float, until: float, now: float) -> int:
        cursor = await self._write(lambda c: c.execute(
            "UPDATE deliveries SET status = 'pending', cycle_attempts = 0, cycle_started_at = ?, next_attempt_at = ?,"
            " updated_at = ? WHERE endpoint_id = ? AND status = 'failed' AND created_at >= ? AND created_at < ?",
            (now, now, now, endpoint_id, since, until)))
        return cursor.rowcount

    async def upsert_event_type(self, name: str, description: str, schema_json: bytes, now: float) -> None:
        await self._write(lambda c: c.execute(
            "INSERT INTO event_types (name, description, schema, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET description = excluded.description, schema = excluded.schema",
            (name, description, schema_json.decode(), now)))

    async def list_event_types(self) -> list[tuple[str, str, bytes]]:
        rows = await self._read(lambda c: c.execute(
            "SELECT name, description, schema FROM event_types ORDER BY name").fetchall())
        return [(row[0], row[1], row[2].encode()) for row in rows]

    # the dispatcher's hot path

    # Each of these runs a fixed number of statements whatever the batch size: the rows travel as one JSON text
    # (built or parsed on the caller's side) and SQLite's json_each / json_group_array do the per-row work. The
    # sqlite3 module lets go of the GIL around every step of a statement and the writer thread must win it back
    # from the busy event loop each time, so a few steps per batch instead of one or two per row means fewer
    # hand-overs and less Python on the writer thread.

    async def claim_due(self, now: float, limit: int) -> list[DueDelivery]:
        def run(conn: sqlite3.Connection) -> str:
            claimed: str = conn.execute(_CLAIM_SQL, (now, now, limit)).fetchone()[0]
            if claimed != "[]":
                conn.execute(_LEASE_CLAIMED_SQL, (now, claimed))
            return claimed

        rows = orjson.loads(await self._write(run))
        return [DueDelivery(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                            row[9].encode(), row[10], row[11], row[12], row[13], row[14], row[15])
                for row in rows]

    async def extend_leases(self, delivery_ids: Sequence[str], now: float) -> None:
        ids = orjson.dumps(list(delivery_ids)).decode()
        await self._write(lambda c: c.execute(
            "UPDATE deliveries SET leased_until = ? + lease_s"
            " WHERE id IN (SELECT value FROM json_each(?)) AND status = 'pending'", (now, ids)))

    async def defer(self, deferrals: Sequence[tuple[str, float]], now: float) -> None:
        rows = orjson.dumps(list(deferrals)).decode()
        await self._write(lambda c: c.execute(_DEFER_SQL, (now, rows)))

    async def record_results(self, results: Sequence[DeliveryResult], now: float) -> None:
        rows = [(a.delivery_id, a.number, a.at, a.status_code, a.latency_ms, a.error, a.error_detail,
                 a.request_headers, a.response_headers, a.response_body) for a in (r.attempt for r in results)]
        try:
            attempts = orjson.dumps(rows).decode()
        except orjson.JSONEncodeError:  # a lone surrogate in an answer: replace it, never fail to record
            attempts = orjson.dumps(valid_unicode(rows)).decode()
        updates = orjson.dumps([
            (r.delivery_id, r.status.value, r.next_attempt_at, r.attempt.status_code, r.attempt.error,
             r.cycle_started_at)
            for r in results
        ]).decode()
        disabled = [(r.disable_reason, now, r.disable_endpoint_id) for r in results if r.disable_endpoint_id]
        firsts = [(self._box.seal(r.first_request.decode()), r.delivery_id) for r in results if r.first_request]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(_INSERT_ATTEMPTS_SQL, (attempts,))
            conn.execute(_UPDATE_DELIVERIES_SQL, (now, updates))
            if disabled:
                conn.executemany("UPDATE endpoints SET enabled = 0, disabled_reason = ?, updated_at = ?"
                                 " WHERE id = ?", disabled)
            if firsts:
                conn.executemany("UPDATE deliveries SET first_request = ? WHERE id = ?", firsts)

        await self._write(run)

    async def first_request(self, delivery_id: str) -> bytes | None:
        row = await self._read(lambda c: c.execute(
            "SELECT first_request FROM deliveries WHERE id = ?", (delivery_id,)).fetchone())
        return None if row is None or row[0] is None else self._box.open(row[0]).encode()

    async def next_due_at(self) -> float | None:
        row = await self._read(lambda c: c.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'").fetchone())
        return row[0]

    async def queue_stats(self) -> QueueStats:
        row = await self._read(lambda c: c.execute(
            "SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'").fetchone())
        return QueueStats(row[0], row[1])
