"""Retention: events whose deliveries are all finished (succeeded, failed or skipped; never one pending) are
deleted with their deliveries and attempts once older than their tenant's `retention_days`, else
`VERIHOOK_RETENTION_DAYS`.

Deletion goes in small batches (one transaction each, oldest first), with a pause between them, so publishing
and delivery go on beside a large purge. `run` is a dispatcher side task (runtime.py): every process that
dispatches purges every `retention_every_s`; two purging at once delete each event once (the others find it gone).
`verihook retention run [--dry-run]` makes one pass (or counts what one would delete). What is deleted is counted in
`verihook_retention_deleted_total{kind}`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from verihook.metrics import Metrics
from verihook.service.periodic import every
from verihook.store.base import Purged, Store

log = logging.getLogger("verihook.retention")

DAY_S = 86400.0
BATCH = 500  # events deleted in one transaction
PAUSE_S = 0.05  # between two batches: the store's other writers go first


class Retention:
    def __init__(self, store: Store, default_days: int, every_s: float, clock: Callable[[], float] = time.time,
                 batch: int = BATCH, pause_s: float = PAUSE_S, metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self.default_days = default_days
        self.every_s = every_s
        self.clock = clock
        self.batch = batch
        self.pause_s = pause_s
        self.batches = 0  # transactions that deleted something, since the start (tests and logs)

    async def run(self) -> None:
        """Purge now and then every `every_s`, until cancelled."""
        await every(self.every_s, self.purge, _report_deleted, log, "retention")

    async def purge(self) -> Purged:
        """Delete every tenant's finished events past its retention; answers how many, of each kind."""
        now = self.clock()
        deleted = Purged()
        for tenant_id, days in await self.store.tenant_retentions():
            before = now - (days or self.default_days) * DAY_S
            while True:
                batch = await self.store.purge_finished_events(tenant_id, before, self.batch)
                deleted += batch
                if batch.events:
                    self.batches += 1
                    if self.metrics is not None:
                        self.metrics.retention_deleted(batch.events, batch.deliveries, batch.attempts)
                if batch.events < self.batch:
                    break
                await asyncio.sleep(self.pause_s)
        return deleted

    async def count(self) -> Purged:
        """What `purge` would delete now, deleting nothing (`verihook retention run --dry-run`)."""
        now = self.clock()
        would = Purged()
        for tenant_id, days in await self.store.tenant_retentions():
            would += await self.store.count_finished_events(tenant_id, now - (days or self.default_days) * DAY_S)
        return would


def _report_deleted(deleted: Purged) -> None:
    if deleted.events:
        log.info("retention: deleted %d finished events with their %d deliveries and %d attempts",
                 deleted.events, deleted.deliveries, deleted.attempts)
