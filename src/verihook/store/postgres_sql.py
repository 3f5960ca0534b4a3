"""The statements only the PostgreSQL store runs: claims, batched results and deferrals, idempotency locks, NOTIFY."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from verihook.model import DeliveryResult
from verihook.store.codec import valid_unicode, without_nul
from verihook.store.postgres_conn import WORK_CHANNEL

IDEMPOTENCY_LOCK_CLASS = 0x5648  # first half of the advisory lock key taken per (tenant, idempotency key)
NOTIFY_WORK = f"NOTIFY {WORK_CHANNEL}"

# named parameters, run through the shared connector (store/dialect.py)
LOCK_IDEMPOTENCY_KEYS = (
    f"SELECT pg_advisory_xact_lock({IDEMPOTENCY_LOCK_CLASS}, h) FROM (SELECT DISTINCT hashtext(t || '|' || k) AS h"
    " FROM unnest(CAST(:tenant_ids AS text[]), CAST(:keys AS text[])) AS x(t, k)) s ORDER BY h")
# the deliveries of events that retention is about to delete, in the lock order of every batch that writes them
LOCK_DELIVERIES_OF_EVENTS = "SELECT 1 FROM deliveries WHERE event_id IN :ids[] ORDER BY id FOR UPDATE"
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
LEFT JOIN subjects s ON s.tenant_id = e.tenant_id AND s.id = e.subject_id
LEFT JOIN endpoints ep ON ep.id = c.endpoint_id
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
DISABLE_ENDPOINTS = (  # the receiver asked for it (410)
    "UPDATE endpoints SET enabled = false, disabled_reason = r.reason, updated_at = $3"
    " FROM unnest($1::text[], $2::text[]) AS r(id, reason) WHERE endpoints.id = r.id AND endpoints.enabled"
    " RETURNING endpoints.id, endpoints.tenant_id, endpoints.disabled_reason")
# The failing streaks of the batch's endpoints (store/endpoint_health.py), written only where they change; the
# rows are locked in id order first, so that workers writing streaks of the same endpoints never deadlock.
RECORD_STREAKS = """
WITH r AS (
    SELECT * FROM unnest($1::text[], $2::bool[], $3::int[], $4::float8[]) AS r(id, reset, failures, first_at)
), locked AS (
    SELECT e.id FROM endpoints e JOIN r ON r.id = e.id WHERE r.failures > 0 OR e.failures <> 0
    ORDER BY e.id FOR UPDATE OF e
)
UPDATE endpoints e SET
    failing_since = CASE WHEN r.reset THEN r.first_at ELSE COALESCE(e.failing_since, r.first_at) END,
    failures = CASE WHEN r.reset THEN 0 ELSE e.failures END + r.failures
FROM r JOIN locked ON locked.id = r.id WHERE e.id = r.id
"""
AUTO_DISABLE = (
    "UPDATE endpoints e SET enabled = false, disabled_reason = r.reason, updated_at = $5"
    " FROM unnest($1::text[], $2::float8[], $3::int[], $4::text[]) AS r(id, span, least_failures, reason)"
    " WHERE e.id = r.id AND e.enabled AND e.deleted_at IS NULL AND e.failing_since <= $5 - r.span"
    " AND e.failures >= r.least_failures"
    " RETURNING e.id, e.tenant_id, e.disabled_reason")
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
             "latency_ms": a.latency_ms, "error": without_nul(fix(a.error)),
             "error_detail": without_nul(fix(a.error_detail)),
             "request_headers": dumps(fix(a.request_headers)).decode(),
             "response_headers": dumps(fix(a.response_headers)).decode(),
             "response_body": without_nul(fix(a.response_body)), "status": r.status.value,
             "next_at": r.next_attempt_at,
             "cycle_started_at": r.cycle_started_at}
            for r in results for a in (r.attempt,)]
    return dumps(rows).decode()


def _same(value: Any) -> Any:
    return value
