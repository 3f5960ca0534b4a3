"""The embedded store: one SQLite file in WAL mode.

All writes run on one thread with one connection (SQLite has one writer anyway), each call one transaction;
reads run on a second thread with their own connection, so queries never wait behind the dispatcher's writes.
The statements shared with PostgreSQL are in store/queries.py (run by SqlStore); here are the dispatcher's claims,
results and deferrals, each a fixed number of statements whatever the batch size (claims and deferrals over one
JSON text, results over multi-row VALUES, one statement per RESULT_ROWS).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from verihook.crypto import SecretBox
from verihook.model import DeliveryResult, DueDelivery, EndpointDisabled
from verihook.store.codec import valid_unicode, without_nul
from verihook.store.endpoint_health import auto_disable_rows, streak_rows
from verihook.store.sql_store import SqlStore
from verihook.store.sqlite_conn import Reader, SqliteDatabase, Writer

ATTEMPT_COLUMNS = ("delivery_id", "number", "at", "status_code", "latency_ms", "error", "error_detail",
                   "request_headers", "response_headers", "response_body")


def _exact(column: str) -> str:
    """A REAL column as a JSON number that reads back to the same float (SQLite's JSON keeps 15 digits)."""
    return f"json(iif({column} IS NULL, NULL, printf('%!.17g', {column})))"


# The due deliveries, in due order, as one JSON array of rows (the fields of DueDelivery, in order), and their ids
# as another (what the lease update reads: it need not parse the events' data again).
_CLAIM_SQL = (
    "SELECT json_group_array(json_array(id, event_id, tenant_id, endpoint_id, url, attempt_count, cycle_attempts,"
    f" {_exact('created_at')}, type, data, {_exact('event_created_at')}, subject_id, sequence, subject_profile,"
    f" {_exact('endpoint_version')}, {_exact('cycle_started_at')})), json_group_array(id)"
    " FROM (SELECT d.id, d.event_id, d.tenant_id, d.endpoint_id, d.url, d.attempt_count, d.cycle_attempts,"
    " d.created_at, e.type, e.data, e.created_at AS event_created_at, e.subject_id, e.sequence,"
    " s.profile AS subject_profile, ep.updated_at AS endpoint_version, d.cycle_started_at"
    " FROM deliveries d JOIN events e ON e.id = d.event_id"
    " LEFT JOIN subjects s ON s.tenant_id = e.tenant_id AND s.id = e.subject_id"
    " LEFT JOIN endpoints ep ON ep.id = d.endpoint_id"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.leased_until IS NULL OR d.leased_until <= ?)"
    " ORDER BY d.next_attempt_at LIMIT ?)"
)
_LEASE_CLAIMED_SQL = (
    "UPDATE deliveries SET leased_until = ? + lease_s WHERE id IN (SELECT value FROM json_each(?))"
)
# Outcomes are bound as parameters of multi-row VALUES, not read from one JSON text: SQLite (3.40) parses a JSON
# row again for every field taken from it, which cost more than the rest of the write. One statement of each per
# RESULT_ROWS results (SQLite binds at most 32,766 parameters): a few sqlite3 steps per batch, as with JSON.
RESULT_ROWS = 500


@lru_cache(maxsize=32)
def _insert_attempts_sql(rows: int) -> str:
    row = f"({', '.join('?' for _ in ATTEMPT_COLUMNS)})"
    return f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) VALUES {', '.join(row for _ in range(rows))}"


# An attempt of a cycle that a redeliver or recover has replaced (its cycle start no longer matches): recorded,
# but unless it succeeded the delivery stays due for the new cycle, which it does not count towards.
# j: (id, status, next_attempt_at, last_status_code, last_error, cycle_started_at) as column1 ... column6.
_STALE = "(j.column6 IS NOT NULL AND deliveries.cycle_started_at IS NOT j.column6)"


@lru_cache(maxsize=32)
def _update_deliveries_sql(rows: int) -> str:
    return (
        "UPDATE deliveries SET"
        f" status = iif({_STALE} AND j.column2 <> 'succeeded', 'pending', j.column2),"
        f" attempt_count = attempt_count + 1, cycle_attempts = cycle_attempts + iif({_STALE}, 0, 1),"
        f" next_attempt_at = iif({_STALE} AND j.column2 <> 'succeeded', next_attempt_at, j.column3),"
        " leased_until = NULL, last_status_code = j.column4, last_error = j.column5, updated_at = ?"
        f" FROM (VALUES {', '.join('(?, ?, ?, ?, ?, ?)' for _ in range(rows))}) AS j WHERE deliveries.id = j.column1"
    )


# The failing streaks of the batch's endpoints (store/endpoint_health.py), written only where they change.
_STREAKS_SQL = (
    "UPDATE endpoints SET"
    " failing_since = iif(j.value->>1, j.value->>3, coalesce(failing_since, j.value->>3)),"
    " failures = iif(j.value->>1, 0, failures) + j.value->>2"
    " FROM json_each(?) AS j WHERE endpoints.id = j.value->>0 AND (j.value->>2 > 0 OR endpoints.failures <> 0)"
)
_AUTO_DISABLE_SQL = (
    "UPDATE endpoints SET enabled = 0, disabled_reason = j.value->>3, updated_at = ?1"
    " FROM json_each(?2) AS j WHERE endpoints.id = j.value->>0 AND endpoints.enabled AND endpoints.deleted_at IS NULL"
    " AND endpoints.failing_since <= ?1 - j.value->>1 AND endpoints.failures >= j.value->>2"
    " RETURNING endpoints.id, endpoints.tenant_id, endpoints.disabled_reason"
)
_DISABLE_SQL = (  # the receiver asked for it (410)
    "UPDATE endpoints SET enabled = 0, disabled_reason = j.value->>1, updated_at = ?1"
    " FROM json_each(?2) AS j WHERE endpoints.id = j.value->>0 AND endpoints.enabled"
    " RETURNING endpoints.id, endpoints.tenant_id, endpoints.disabled_reason"
)

_DEFER_SQL = (
    "UPDATE deliveries SET next_attempt_at = j.value->>1, leased_until = NULL, updated_at = ?"
    " FROM json_each(?) AS j WHERE deliveries.id = j.value->>0 AND deliveries.status = 'pending'"
)


def migration_scripts() -> list[tuple[str, str]]:
    folder = resources.files("verihook.store") / "sql" / "sqlite"
    scripts = sorted((entry.name, entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), text) for name, text in scripts]


class SqliteStore(SqlStore):
    def __init__(self, path: Path | str, box: SecretBox) -> None:
        self.path = Path(path)
        self._writer = Writer(self.path)
        self._reader = Reader(self.path)
        super().__init__(SqliteDatabase(self._writer, self._reader), box)

    async def migrate(self) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at REAL)")
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            applied = []
            for version, script in migration_scripts():
                if version not in done and _apply_migration(conn, version, script):
                    applied.append(version)
            return applied

        return await self._writer.run(run, transaction=False)

    async def close(self) -> None:
        self._writer.close()
        self._reader.close()

    async def listen_for_work(self, callback: Callable[[], None]) -> None:
        """Nothing to listen to: one process owns the file, and publishing wakes its dispatcher in-process."""

    # the dispatcher's hot path

    # Each of these runs a fixed number of statements whatever the batch size: the rows travel as one JSON text
    # (built or parsed on the caller's side, SQLite's json_each / json_group_array doing the per-row work) or, for
    # results, as the parameters of one multi-row statement. The sqlite3 module lets go of the GIL around every
    # step of a statement and the writer thread must win it back from the busy event loop each time, so a few
    # steps per batch instead of one or two per row means fewer hand-overs and less Python on the writer thread.

    async def claim_due(self, now: float, limit: int) -> list[DueDelivery]:
        def run(conn: sqlite3.Connection) -> str:
            claimed, ids = conn.execute(_CLAIM_SQL, (now, now, limit)).fetchone()
            if ids != "[]":
                conn.execute(_LEASE_CLAIMED_SQL, (now, ids))
            return str(claimed)

        rows = orjson.loads(await self._writer.run(run))
        return [DueDelivery(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                            row[9].encode(), row[10], row[11], row[12], row[13], row[14], row[15])
                for row in rows]

    async def defer(self, deferrals: Sequence[tuple[str, float]], now: float) -> None:
        rows = orjson.dumps(list(deferrals)).decode()
        await self._writer.run(lambda c: c.execute(_DEFER_SQL, (now, rows)))

    async def record_results(self, results: Sequence[DeliveryResult], now: float) -> list[EndpointDisabled]:
        attempts: list[Any] = []
        updates: list[Any] = []
        for r in results:
            a = r.attempt
            attempts += (a.delivery_id, a.number, a.at, a.status_code, a.latency_ms, _text(a.error),
                         _text(a.error_detail), _json(a.request_headers), _json(a.response_headers),
                         _text(a.response_body))
            updates += (r.delivery_id, r.status.value, r.next_attempt_at, a.status_code, _text(a.error),
                        r.cycle_started_at)
        gone = {r.disable_endpoint_id: r.disable_reason for r in results if r.disable_endpoint_id}
        streaks = streak_rows(results)
        auto = auto_disable_rows(results)
        firsts = self._sealed_first_requests(results)
        width, update_width = len(ATTEMPT_COLUMNS), 6

        def run(conn: sqlite3.Connection) -> list[EndpointDisabled]:
            for start in range(0, len(results), RESULT_ROWS):
                rows = min(RESULT_ROWS, len(results) - start)
                conn.execute(_insert_attempts_sql(rows), attempts[start * width:(start + rows) * width])
                conn.execute(_update_deliveries_sql(rows),
                             [now, *updates[start * update_width:(start + rows) * update_width]])
            disabled = []
            if gone:
                disabled += conn.execute(_DISABLE_SQL, (now, orjson.dumps(list(gone.items())).decode())).fetchall()
            if streaks:
                conn.execute(_STREAKS_SQL, (orjson.dumps(streaks).decode(),))
            if auto:
                disabled += conn.execute(_AUTO_DISABLE_SQL, (now, orjson.dumps(auto).decode())).fetchall()
            if firsts:
                conn.executemany("UPDATE deliveries SET first_request = ? WHERE id = ?", firsts)
            return [EndpointDisabled(*row) for row in disabled]

        return await self._writer.run(run)


def _text(text: str | None) -> str | None:
    """A text of a receiver's answer as it can be stored: NUL replaced by U+FFFD, a lone surrogate by `?`."""
    if text is None or text.isascii():
        return without_nul(text)
    return without_nul(valid_unicode(text))


def _json(value: dict[str, str]) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # a lone surrogate in an answer's header: replace it, never fail to record
        return orjson.dumps(valid_unicode(value)).decode()


def _apply_migration(conn: sqlite3.Connection, version: str, script: str) -> bool:
    """Apply one migration unless another process has (several processes may start on a new file at once).

    Its version is recorded first, under the write lock of BEGIN IMMEDIATE: when that insert finds the version
    there, the other process applied the script and recorded it in one transaction, so this one applied nothing.
    """
    record = f"INSERT INTO schema_migrations VALUES ('{version}', CAST(strftime('%s', 'now') AS REAL));"
    try:
        conn.executescript(f"BEGIN IMMEDIATE;\n{record}\n{script}\nCOMMIT;")
    except sqlite3.IntegrityError:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone() is None:
            raise  # the script itself broke a constraint
        return False
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True
