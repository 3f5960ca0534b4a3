"""Figures for the dashboard: an endpoint's recent deliveries and success rate, and hourly series of volume,
success rate and latency. Computed from the newest events (at most SAMPLE of them), through the store's
ordinary reads: a dashboard's glance, not an exact report over all history."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from verihook.model import Delivery, DeliveryStatus, Event, EventFilter
from verihook.service.access import Caller
from verihook.service.context import Context

SAMPLE = 300  # events read at most for one figure
RECENT = 20  # deliveries listed on an endpoint's page


@dataclass(slots=True)
class RecentDelivery:
    event: Event
    delivery: Delivery


@dataclass(slots=True)
class EndpointHealth:
    recent: list[RecentDelivery]
    succeeded: int
    failed: int
    pending: int

    @property
    def success_rate(self) -> float | None:
        """Succeeded over finished deliveries (pending ones are not counted); None when none has finished."""
        finished = self.succeeded + self.failed
        return None if finished == 0 else self.succeeded / finished


@dataclass(slots=True)
class Bucket:
    start: float
    events: int = 0
    succeeded: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return None if finished == 0 else self.succeeded / finished

    @property
    def median_latency_ms(self) -> float | None:
        return statistics.median(self.latencies_ms) if self.latencies_ms else None


class Stats:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def endpoint_health(self, caller: Caller, endpoint_id: str) -> EndpointHealth:
        """The endpoint's newest deliveries and their counts by status (the caller must see the endpoint)."""
        where = EventFilter(tenant_ids=caller.tenant_ids, endpoint_id=endpoint_id)
        page = await self.ctx.store.list_events(where, SAMPLE, None)
        health = EndpointHealth([], 0, 0, 0)
        for event in page.items:
            for delivery in await self.ctx.store.deliveries_of(event.id, with_attempts=False):
                if delivery.endpoint_id != endpoint_id:
                    continue
                if len(health.recent) < RECENT:
                    health.recent.append(RecentDelivery(event, delivery))
                if delivery.status is DeliveryStatus.SUCCEEDED:
                    health.succeeded += 1
                elif delivery.status is DeliveryStatus.FAILED:
                    health.failed += 1
                else:
                    health.pending += 1
        return health

    async def series(self, caller: Caller, hours: int = 24, bucket_s: float = 3600.0) -> list[Bucket]:
        """One bucket per `bucket_s` over the last `hours`, oldest first: events published, deliveries finished
        (by outcome), and the latency of the attempts that got an answer."""
        now = self.ctx.clock()
        first = (now // bucket_s - (hours - 1)) * bucket_s
        buckets = [Bucket(first + i * bucket_s) for i in range(hours)]
        where = EventFilter(tenant_ids=caller.tenant_ids, since=first)
        page = await self.ctx.store.list_events(where, SAMPLE, None)
        for event in page.items:
            bucket = buckets[min(int((event.created_at - first) // bucket_s), hours - 1)]
            bucket.events += 1
            for delivery in await self.ctx.store.deliveries_of(event.id):
                if delivery.status is DeliveryStatus.SUCCEEDED:
                    bucket.succeeded += 1
                elif delivery.status is DeliveryStatus.FAILED:
                    bucket.failed += 1
                bucket.latencies_ms += [a.latency_ms for a in delivery.attempts if a.status_code is not None]
        return buckets
