"""The shared store: PostgreSQL through asyncpg, for any number of API and worker processes.

The statements it shares with the SQLite store are in store/queries.py (run by SqlStore; tests/integration/
test_store_contract.py runs against both). What differs is how many processes may share it:

- claims take rows with `FOR UPDATE SKIP LOCKED` and stamp a lease in the same statement, so workers never
  wait for each other and a dead worker's claims come back when their lease runs out;
- every transaction that makes deliveries due sends NOTIFY on WORK_CHANNEL, and workers LISTEN
  (`listen_for_work`), so a published event leaves at once from whichever worker is free;
- idempotency keys are serialised across processes by a transaction-scoped advisory lock per key;
- the hot path is batched: one statement claims a batch, one statement records a batch of results (the
  attempts and their deliveries' new state, from one JSON array).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from verihook.crypto import SecretBox
from verihook.model import DeliveryResult, DueDelivery, EndpointDisabled
from verihook.store.database import Tx
from verihook.store.endpoint_health import auto_disable_rows, streak_rows
from verihook.store.postgres_conn import WORK_CHANNEL, Connections, PostgresDatabase, dsn_of
from verihook.store.postgres_sql import (
    AUTO_DISABLE,
    CLAIM_DUE,
    DEFER,
    DISABLE_ENDPOINTS,
    LOCK_DELIVERIES_OF_EVENTS,
    LOCK_IDEMPOTENCY_KEYS,
    NOTIFY_WORK,
    RECORD_RESULTS,
    RECORD_STREAKS,
    results_json,
)
from verihook.store.sql_store import SqlStore


class PostgresStore(SqlStore):
    def __init__(self, database_url: str, box: SecretBox) -> None:
        self.database_url = database_url
        self._conns = Connections(dsn_of(database_url))
        self._pg = PostgresDatabase(self._conns)
        super().__init__(self._pg, box)

    async def migrate(self) -> list[str]:
        return await self._conns.migrate()

    async def close(self) -> None:
        await self._conns.close()

    async def listen_for_work(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever another process (or this one) makes deliveries due; runs until cancelled."""
        await self._conns.listen(WORK_CHANNEL, callback)

    async def _lock_idempotency_keys(self, tx: Tx, keys: Sequence[tuple[str, str]]) -> None:
        await tx.execute(LOCK_IDEMPOTENCY_KEYS, tenant_ids=[k[0] for k in keys], keys=[k[1] for k in keys])

    async def _lock_deliveries_of_events(self, tx: Tx, event_ids: Sequence[str]) -> None:
        await tx.fetch_all(LOCK_DELIVERIES_OF_EVENTS, ids=list(event_ids))

    async def _made_due(self, tx: Tx) -> None:
        await tx.execute(NOTIFY_WORK)

    # the dispatcher's hot path

    async def claim_due(self, now: float, limit: int) -> list[DueDelivery]:
        async with self._conns.claiming() as conn:
            rows = await conn.fetch(CLAIM_DUE, now, limit)
        return [DueDelivery(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                            row[9].encode(), row[10], row[11], row[12], row[13], row[14], row[15]) for row in rows]

    async def defer(self, deferrals: Sequence[tuple[str, float]], now: float) -> None:
        ordered = sorted(deferrals)  # the lock order of record_results
        async with self._pg.connection() as conn:
            await conn.execute(DEFER, [d[0] for d in ordered], [d[1] for d in ordered], now)

    async def record_results(self, results: Sequence[DeliveryResult], now: float) -> list[EndpointDisabled]:
        if not results:
            return []
        ordered = sorted(results, key=lambda r: r.delivery_id)  # one lock order for every writer: no deadlocks
        rows = results_json(ordered)
        gone = sorted({r.disable_endpoint_id: r.disable_reason for r in ordered if r.disable_endpoint_id}.items())
        streaks = streak_rows(ordered)
        auto = auto_disable_rows(ordered)
        firsts = self._sealed_first_requests(ordered)
        if not gone and not firsts and not auto:  # each statement is atomic: no transaction round trips
            async with self._pg.connection() as conn:
                await conn.execute(RECORD_RESULTS, rows, now)
                if streaks:
                    await conn.execute(RECORD_STREAKS, *map(list, zip(*streaks, strict=True)))
            return []
        disabled = []
        async with self._pg.transaction() as conn:
            await conn.execute(RECORD_RESULTS, rows, now)
            if gone:
                disabled += await conn.fetch(DISABLE_ENDPOINTS, [d[0] for d in gone], [d[1] for d in gone], now)
            if streaks:
                await conn.execute(RECORD_STREAKS, *map(list, zip(*streaks, strict=True)))
            if auto:
                disabled += await conn.fetch(AUTO_DISABLE, *map(list, zip(*auto, strict=True)), now)
            if firsts:
                await conn.executemany("UPDATE deliveries SET first_request = $1 WHERE id = $2", firsts)
        return [EndpointDisabled(*row) for row in disabled]
