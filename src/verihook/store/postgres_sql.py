"""The PostgreSQL store's statements and the conversions between its rows and the domain types."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]  # no stubs; asyncpg-stubs would type it
import orjson

from verihook.model import Delivery, DeliveryResult, DeliveryStatus, Event, Subject
from verihook.store.base import Destination, EventDraft, Published
from verihook.store.codec import decode_cursor, valid_unicode
from verihook.store.postgres_conn import WORK_CHANNEL

T = TypeVar("T")
Row = Mapping[str, Any]

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
    " created_at, updated_at, cycle_started_at)"
    " SELECT id, event_id, tenant_id, endpoint_id, url, 'pending', at, lease_s, at, at, at FROM unnest($1::text[],"
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
              d.created_at, d.next_attempt_at, d.cycle_started_at
)
SELECT c.id, c.event_id, c.tenant_id, c.endpoint_id, c.url, c.attempt_count, c.cycle_attempts, c.created_at,
       e.type, e.data, e.created_at AS event_created_at, e.subject_id, e.sequence,
       s.profile AS subject_profile, ep.updated_at AS endpoint_version, c.cycle_started_at
FROM claimed c JOIN events e ON e.id = c.event_id
LEFT JOIN subjects s ON s.id = e.subject_id LEFT JOIN endpoints ep ON ep.id = c.endpoint_id
ORDER BY c.next_attempt_at
"""
# An attempt of a cycle that a redeliver or recover has replaced (its cycle start no longer matches): recorded,
# but unless it succeeded the delivery stays due for the new cycle, which it does not count towards.
_STALE = "(r.cycle_started_at IS NOT NULL AND d.cycle_started_at IS DISTINCT FROM r.cycle_started_at)"
# Results in one statement (atomic without BEGIN/COMMIT round trips): the attempts are inserted and their
# deliveries moved on from one JSON array of result rows, which the client writes with one orjson call. At the
# dispatcher's usual batches (tens of results) this costs the worker half the CPU of binding a dozen arrays
# (asyncpg checks every array element) or of COPY + UPDATE, and the server about the same.
RECORD_RESULTS = f"""
WITH r AS (
    SELECT * FROM json_to_recordset($1::json) AS r(delivery_id text, number int, at float8, status_code int,
        latency_ms float8, error text, error_detail text, request_headers text, response_headers text,
        response_body text, status text, next_at float8, cycle_started_at float8)
), written AS (
    INSERT INTO attempts (delivery_id, number, at, status_code, latency_ms, error, error_detail, request_headers,
                          response_headers, response_body)
    SELECT delivery_id, number, at, status_code, latency_ms, error, error_detail, request_headers,
           response_headers, response_body FROM r
)
UPDATE deliveries d SET
    status = CASE WHEN {_STALE} AND r.status <> 'succeeded' THEN 'pending' ELSE r.status END,
    attempt_count = d.attempt_count + 1,
    cycle_attempts = d.cycle_attempts + CASE WHEN {_STALE} THEN 0 ELSE 1 END,
    next_attempt_at = CASE WHEN {_STALE} AND r.status <> 'succeeded' THEN d.next_attempt_at ELSE r.next_at END,
    leased_until = NULL, last_status_code = r.status_code, last_error = r.error, updated_at = $2
FROM r WHERE d.id = r.delivery_id
"""
DISABLE_ENDPOINTS = (
    "UPDATE endpoints SET enabled = false, disabled_reason = r.reason, updated_at = $3"
    " FROM unnest($1::text[], $2::text[]) AS r(id, reason) WHERE endpoints.id = r.id")
# A delivery being sent keeps its lease: its attempt finishes and is recorded before anyone sends it again.
REQUEUE = ("UPDATE deliveries SET status = 'pending', cycle_attempts = 0, cycle_started_at = $1, next_attempt_at = $1,"
           " updated_at = $1 WHERE ")
DEFER = ("UPDATE deliveries SET next_attempt_at = r.at, leased_until = NULL, updated_at = $3"
         " FROM unnest($1::text[], $2::float8[]) AS r(id, at) WHERE deliveries.id = r.id AND status = 'pending'")

def results_json(results: Sequence[DeliveryResult]) -> str:
    """The rows RECORD_RESULTS reads. Headers go in as JSON text inside a JSON string (PostgreSQL would refuse to
    turn an escaped NUL in a nested object into text)."""
    try:
        return _results_json(results, _same)
    except orjson.JSONEncodeError:  # a lone surrogate (aiohttp keeps undecodable header bytes so): replace it
        return _results_json(results, valid_unicode)


def _results_json(results: Sequence[DeliveryResult], fix: Callable[[Any], Any]) -> str:
    dumps = orjson.dumps
    rows = [{"delivery_id": r.delivery_id, "number": a.number, "at": a.at, "status_code": a.status_code,
             "latency_ms": a.latency_ms, "error": clean(fix(a.error)), "error_detail": clean(fix(a.error_detail)),
             "request_headers": dumps(fix(a.request_headers)).decode(),
             "response_headers": dumps(fix(a.response_headers)).decode(),
             "response_body": clean(fix(a.response_body)), "status": r.status.value, "next_at": r.next_attempt_at,
             "cycle_started_at": r.cycle_started_at}
            for r in results for a in (r.attempt,)]
    return dumps(rows).decode()


def _same(value: Any) -> Any:
    return value


def clean(text: str | None) -> str | None:
    """PostgreSQL text holds no NUL; a receiver's answer may. Recording it must never fail."""
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


def row_count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class Where:
    """WHERE conditions with numbered parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def arg(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def scope(self, tenant_ids: Sequence[str] | None, column: str) -> Where:
        if tenant_ids is not None:
            self.conditions.append(f"{column} = ANY({self.arg(list(tenant_ids))}::text[])")
        return self

    def keyset(self, cursor: str | None, table: str = "") -> Where:
        if cursor:
            created_at, item_id = decode_cursor(cursor)
            self.conditions.append(f"({table}created_at, {table}id) < ({self.arg(created_at)}, {self.arg(item_id)})")
        return self

    def sql(self) -> str:
        return " AND ".join(self.conditions) or "true"


class PublishBatch:
    """The rows one publish writes, gathered while routing and written with one statement per table."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.deliveries: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []

    def add(self, draft: EventDraft, subject: Subject | None, destinations: Sequence[Destination]) -> Published:
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
