"""Retention: events whose deliveries are all finished (succeeded, failed or skipped; never one pending) are
deleted with their deliveries and attempts once older than their tenant's `retention_days`, else
`VERIHOOK_RETENTION_DAYS`.

Deletion goes in small batches (one transaction each, oldest first), with a pause between them, so publishing
and delivery go on beside a large purge. `run` is a dispatcher side task (runtime.py): every process that
dispatches purges every `retention_every_s`; two purging at once delete each event once (the others find it gone).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from verihook.store.base import Store
from verihook.store.errors import is_unavailable

log = logging.getLogger("verihook.retention")

DAY_S = 86400.0
BATCH = 500  # events deleted in one transaction
PAUSE_S = 0.05  # between two batches: the store's other writers go first


class Retention:
    def __init__(self, store: Store, default_days: int, every_s: float, clock: Callable[[], float] = time.time,
                 batch: int = BATCH, pause_s: float = PAUSE_S) -> None:
        self.store = store
        self.default_days = default_days
        self.every_s = every_s
        self.clock = clock
        self.batch = batch
        self.pause_s = pause_s
        self.batches = 0  # transactions that deleted something, since the start (tests and logs)

    async def run(self) -> None:
        """Purge now and then every `every_s`, until cancelled."""
        while True:
            try:
                deleted = await self.purge()
            except Exception as error:
                if not is_unavailable(error):
                    raise  # a bug: the supervisor logs it and starts the task again
                log.warning("retention: the database cannot be reached; trying again in %.0f s", self.every_s)
            else:
                if deleted:
                    log.info("retention: deleted %d finished events with their deliveries and attempts", deleted)
            await asyncio.sleep(self.every_s)

    async def purge(self) -> int:
        """Delete every tenant's finished events past its retention; answers how many."""
        now = self.clock()
        deleted = 0
        for tenant_id, days in await self.store.tenant_retentions():
            before = now - (days or self.default_days) * DAY_S
            while True:
                count = await self.store.purge_finished_events(tenant_id, before, self.batch)
                deleted += count
                if count:
                    self.batches += 1
                if count < self.batch:
                    break
                await asyncio.sleep(self.pause_s)
        return deleted
