"""PostgreSQL connections for the store: a pool that survives a server restart, migrations under a lock, a
LISTEN connection that reconnects by itself; and the connector that runs the shared statements (PostgresDatabase).

Every pooled connection that the server dropped (a restart, a failover, an idle timeout) is replaced on its next
acquire; a query that was running when it dropped fails, and the caller (the dispatcher's cycle and flusher, or an
API request) tries again. The LISTEN connection is not pooled: it lives as long as the process listens, pings the
server every few seconds, and after any loss reconnects and wakes its caller once, since notifications sent while
it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]  # no stubs; asyncpg-stubs would type it

from verihook.errors import InvalidInput
from verihook.store.database import Unit
from verihook.store.dialect import NUL_REFUSED, POSTGRES, Rows, checked_rows
from verihook.store.errors import dangling_row, duplicate_row

T = TypeVar("T")

log = logging.getLogger("verihook.store.postgres")

POOL_MIN = 1
POOL_MAX = 10  # connections per process; one dispatcher uses 3-4 at once (claim, flush, lease renewal, lookups)
CONNECT_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 5.0
LISTEN_PING_S = 5.0  # how often the LISTEN connection checks that the server is still there
LISTEN_RETRY_S = 0.5  # wait between two reconnection tries
WORK_CHANNEL = "verihook_work"  # NOTIFY'd by every transaction that makes deliveries due now
MIGRATION_LOCK = 0x7665_7269_686F_6F6B  # advisory lock id ("verihook"): one process migrates at a time
SERVER_SETTINGS = {"application_name": "verihook", "jit": "off"}
# The claim must walk the due index in order and stop at its limit. Without fresh statistics (a new table,
# autovacuum off or behind) the planner prefers a bitmap scan of every pending row and a sort: 10 ms instead of
# 1 ms for 64 rows out of 20,000. The claiming connection is told not to. Its commits do not wait for the WAL
# flush either: a claim lost in a server crash only lets another worker claim the delivery again (at-least-once
# allows the duplicate); results, which mark deliveries done, are always committed durably.
CLAIM_SETTINGS = {**SERVER_SETTINGS, "enable_seqscan": "off", "enable_bitmapscan": "off",
                  "synchronous_commit": "off"}


def migration_scripts() -> list[tuple[str, str]]:
    folder = resources.files("verihook.store") / "sql" / "postgres"
    scripts = sorted((entry.name, entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), text) for name, text in scripts]


def dsn_of(database_url: str) -> str:
    """asyncpg's DSN from a Verihook database URL (postgresql://, postgres:// or postgresql+asyncpg://)."""
    for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url.removeprefix(prefix)
    return database_url


async def _no_reset(_: asyncpg.Connection) -> None:
    """The store never leaves session state behind (no LISTEN, no session locks, no SET on pooled connections),
    so the reset query asyncpg runs on every release would be a wasted round trip."""


class Connections:
    """The pools of one store, made on first use: the main pool, and one connection for claims (a worker's)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._claim_pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await self._create(POOL_MAX, SERVER_SETTINGS)
        return self._pool

    async def _create(self, size: int, settings: dict[str, str]) -> asyncpg.Pool:
        return await asyncpg.create_pool(self.dsn, min_size=POOL_MIN, max_size=size, reset=_no_reset,
                                         timeout=CONNECT_TIMEOUT_S, server_settings=settings)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = await self.pool()
        async with pool.acquire() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def claiming(self) -> AsyncIterator[asyncpg.Connection]:
        if self._claim_pool is None:
            async with self._opening:
                if self._claim_pool is None:
                    self._claim_pool = await self._create(1, CLAIM_SETTINGS)
        async with self._claim_pool.acquire() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def transaction(self, snapshot: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A transaction; with `snapshot`, a read-only one whose statements all see the same snapshot."""
        pool = await self.pool()
        isolation = "repeatable_read" if snapshot else None
        async with pool.acquire() as conn, conn.transaction(isolation=isolation, readonly=snapshot):
            yield conn

    async def migrate(self) -> list[str]:
        pool = await self.pool()
        applied: list[str] = []
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations"
                                   " (version text PRIMARY KEY, applied_at double precision NOT NULL)")
                done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
                for version, script in migration_scripts():
                    if version in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(script)
                        await conn.execute("INSERT INTO schema_migrations VALUES ($1, extract(epoch FROM now()))",
                                           version)
                    applied.append(version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        return applied

    async def close(self) -> None:
        pools = [p for p in (self._pool, self._claim_pool) if p is not None]
        self._pool = self._claim_pool = None
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_S)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()

    async def listen(self, channel: str, callback: Callable[[], None]) -> None:
        """Call `callback` on every notification on `channel`, and once after each (re)connection. Runs until
        cancelled; never raises for a lost or refused connection."""
        task = asyncio.current_task()
        while True:
            try:
                await self._listen_once(channel, callback)
                log.warning("the LISTEN connection to PostgreSQL was lost; reconnecting")
            except Exception as error:  # refused, dropped, timed out, starting up: wait and try again
                log.warning("the LISTEN connection to PostgreSQL failed (%s); reconnecting", error)
            if task is not None and task.cancelling():  # a cancellation a timeout inside asyncpg turned into an error
                raise asyncio.CancelledError
            await asyncio.sleep(LISTEN_RETRY_S)

    async def _listen_once(self, channel: str, callback: Callable[[], None]) -> None:
        """Listen on one connection until it is lost."""
        conn = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_S, server_settings=SERVER_SETTINGS)
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(channel, lambda *_: callback())
            callback()  # what was published while nobody listened
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), LISTEN_PING_S)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=LISTEN_PING_S)
        finally:
            conn.terminate()


def row_count(status: str) -> int:
    """The rows a statement changed, from its status ("UPDATE 3", "INSERT 0 1"; 0 for "NOTIFY")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """The server's errors for bad text and broken constraints as the errors both stores raise."""
    try:
        yield
    except asyncpg.CharacterNotInRepertoireError as error:
        raise InvalidInput(NUL_REFUSED) from error
    except asyncpg.UniqueViolationError as error:
        raise duplicate_row(error.table_name) from error
    except asyncpg.ForeignKeyViolationError as error:
        raise dangling_row() from error


class PostgresTx:
    """Statements of store/queries.py on one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch_one(self, query: str, /, **params: Any) -> Any:
        sql, args = POSTGRES.bind(query, params)
        return await self._conn.fetchrow(sql, *args)

    async def fetch_all(self, query: str, /, **params: Any) -> list[Any]:
        sql, args = POSTGRES.bind(query, params)
        return list(await self._conn.fetch(sql, *args))

    async def execute(self, query: str, /, **params: Any) -> int:
        sql, args = POSTGRES.bind(query, params)
        return row_count(await self._conn.execute(sql, *args))

    async def insert_many(self, rows: Rows, values: Sequence[tuple[Any, ...]]) -> None:
        checked_rows(values)
        await self._conn.execute(POSTGRES.insert_many(rows), rows.json_rows(values))


class PostgresDatabase:
    """The PostgreSQL connector: a statement on its own takes a pooled connection (atomic by itself, no BEGIN and
    COMMIT round trips); a unit runs in a transaction."""

    def __init__(self, conns: Connections) -> None:
        self._conns = conns

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with translated(), self._conns.connection() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with translated(), self._conns.transaction() as conn:
            yield conn

    async def fetch_one(self, query: str, /, **params: Any) -> Any:
        async with self.connection() as conn:
            return await PostgresTx(conn).fetch_one(query, **params)

    async def fetch_all(self, query: str, /, **params: Any) -> list[Any]:
        async with self.connection() as conn:
            return await PostgresTx(conn).fetch_all(query, **params)

    async def execute(self, query: str, /, **params: Any) -> int:
        async with self.connection() as conn:
            return await PostgresTx(conn).execute(query, **params)

    async def insert_many(self, rows: Rows, values: Sequence[tuple[Any, ...]]) -> None:
        async with self.connection() as conn:
            await PostgresTx(conn).insert_many(rows, values)

    async def read(self, unit: Unit[T]) -> T:
        async with translated(), self._conns.transaction(snapshot=True) as conn:
            return await unit(PostgresTx(conn))

    async def write(self, unit: Unit[T]) -> T:
        async with self.transaction() as conn:
            return await unit(PostgresTx(conn))
