"""Figures for the dashboard: an endpoint's newest deliveries, and over a window (the last 24 hours or 7 days)
the attempts per hour, how many of them ended their delivery as succeeded or failed, and the mean latency of
those that got an answer. The hourly figures are the store's aggregate over every attempt of the window
(`Store.attempts_by_hour`), for the caller's tenants or one endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from verihook.model import Delivery, Event, EventFilter
from verihook.service.access import Caller
from verihook.service.context import Context

RECENT = 20  # deliveries listed on an endpoint's page
BUCKET_S = 3600.0
WINDOWS = {"24h": 24, "7d": 7 * 24}  # the windows a page offers, in hours
DEFAULT_WINDOW = "24h"


def window_hours(window: str | None) -> tuple[str, int]:
    """The window named (one of WINDOWS; anything else is the default) and its length in hours."""
    name = window if window in WINDOWS else DEFAULT_WINDOW
    return name, WINDOWS[name]


@dataclass(slots=True)
class RecentDelivery:
    event: Event
    delivery: Delivery


@dataclass(slots=True)
class Bucket:
    start: float
    attempts: int = 0
    succeeded: int = 0  # attempts that ended their delivery as succeeded
    failed: int = 0  # attempts that ended their delivery as failed
    mean_latency_ms: float | None = None  # of the attempts that got an answer

    @property
    def success_rate(self) -> float | None:
        """Succeeded over finished deliveries (those still retrying are not counted); None when none finished."""
        return _rate(self.succeeded, self.failed)


@dataclass(slots=True)
class Totals:
    attempts: int
    succeeded: int
    failed: int

    @property
    def success_rate(self) -> float | None:
        return _rate(self.succeeded, self.failed)


@dataclass(slots=True)
class EndpointHealth:
    recent: list[RecentDelivery]
    buckets: list[Bucket]

    @property
    def totals(self) -> Totals:
        return totals_of(self.buckets)

    @property
    def success_rate(self) -> float | None:
        return self.totals.success_rate


def totals_of(buckets: list[Bucket]) -> Totals:
    return Totals(sum(b.attempts for b in buckets), sum(b.succeeded for b in buckets),
                  sum(b.failed for b in buckets))


def _rate(succeeded: int, failed: int) -> float | None:
    finished = succeeded + failed
    return None if finished == 0 else succeeded / finished


class Stats:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def endpoint_health(self, caller: Caller, endpoint_id: str, hours: int = 24) -> EndpointHealth:
        """The endpoint's newest deliveries and its hourly figures (the caller must see the endpoint)."""
        where = EventFilter(tenant_ids=caller.tenant_ids, endpoint_id=endpoint_id)
        page = await self.ctx.store.list_events(where, RECENT, None)
        recent = []
        for event in page.items:
            for delivery in await self.ctx.store.deliveries_of(event.id, with_attempts=False):
                if delivery.endpoint_id == endpoint_id:
                    recent.append(RecentDelivery(event, delivery))
        return EndpointHealth(recent, await self.series(caller, hours, endpoint_id))

    async def series(self, caller: Caller, hours: int = 24, endpoint_id: str | None = None) -> list[Bucket]:
        """One bucket per hour over the last `hours` (the current hour last), oldest first: the attempts of the
        caller's deliveries (or of one endpoint's) made in it."""
        first = (self.ctx.clock() // BUCKET_S - (hours - 1)) * BUCKET_S
        buckets = [Bucket(first + i * BUCKET_S) for i in range(hours)]
        for hour in await self.ctx.store.attempts_by_hour(caller.tenant_ids, endpoint_id, first, hours):
            index = round((hour.start - first) / BUCKET_S)
            if not 0 <= index < hours:  # within a rounding error of the window's bounds
                continue
            bucket = buckets[index]
            bucket.attempts, bucket.succeeded, bucket.failed = hour.attempts, hour.succeeded, hour.failed
            bucket.mean_latency_ms = hour.mean_latency_ms
        return buckets
