"""The news sweep: publishes again the `verihook.delivery.exhausted` news of deliveries that gave up lately.

The dispatcher publishes that news just after it writes the failure, in a transaction of its own; a process killed
in between (or a store away for longer than its retries) would lose it for good. Each news is keyed by its delivery
and attempt count (operational.delivery_exhausted), so publishing it again is idempotent: the sweep republishes
what failed in a window and only the news that is missing is made. `run` is a dispatcher side task (runtime.py):
at start it covers the last WINDOW_S (never before news had keys), then every EVERY_S what failed since its last
pass (but the last GRACE_S, which the dispatcher's own publish is still handling).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from verihook import operational
from verihook.model import Published
from verihook.operational import OperationalEvent
from verihook.service.periodic import every
from verihook.store.base import Store

log = logging.getLogger("verihook.news_sweep")

WINDOW_S = 6 * 3600.0  # how far back the first pass looks (a process restarted later than this lost its news)
EVERY_S = 60.0
GRACE_S = 60.0  # the dispatcher publishes within about 30 s of a failure (its retries while the store is away)
BATCH = 500
KEYED_SINCE = "news_keyed_since"  # meta (migration 0009): news published before carried no key; never swept

Publish = Callable[[Sequence[OperationalEvent]], Awaitable[list[Published]]]


class NewsSweep:
    def __init__(self, store: Store, publish: Publish, clock: Callable[[], float] = time.time,
                 window_s: float = WINDOW_S, every_s: float = EVERY_S, grace_s: float = GRACE_S,
                 batch: int = BATCH) -> None:
        self.store = store
        self.publish = publish
        self.clock = clock
        self.window_s = window_s
        self.every_s = every_s
        self.grace_s = grace_s
        self.batch = batch
        self._swept_until: float | None = None  # where the last pass stopped

    async def run(self) -> None:
        """Sweep now and then every `every_s`, until cancelled."""
        await every(self.every_s, self.sweep, _report_made, log, "news sweep")

    async def sweep(self) -> int:
        """One pass over what failed since the last one (the first: the last `window_s`); answers how many news
        events it made (those already published are not made again)."""
        now = self.clock()
        if self._swept_until is None:
            keyed_since = float(await self.store.get_meta(KEYED_SINCE) or 0)
            self._swept_until = max(now - self.window_s, keyed_since)
        since = self._swept_until
        until = now - self.grace_s
        made = 0
        after: tuple[float, str] | None = None
        while since < until:
            failed = await self.store.failed_deliveries(since, until, self.batch, after)
            if failed:
                news = [operational.delivery_exhausted(
                    d.tenant_id, event_id=d.event_id, delivery_id=d.id, endpoint_id=d.endpoint_id, url=d.url,
                    attempts=d.attempt_count, last_status_code=d.last_status_code, last_error=d.last_error)
                    for d in failed]
                made += sum(1 for p in await self.publish(news) if not p.duplicate)
                after = (failed[-1].failed_at, failed[-1].id)
            if len(failed) < self.batch:
                break
        self._swept_until = max(since, until)
        return made


def _report_made(made: int) -> None:
    if made:
        log.warning("news sweep: published %d delivery-exhausted events that were missing", made)
