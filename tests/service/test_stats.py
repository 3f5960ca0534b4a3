"""The dashboard's figures count every attempt of their window, however many events it holds."""

from __future__ import annotations

from verihook.model import Attempt, DeliveryResult, DeliveryStatus
from verihook.runtime import Runtime
from verihook.service import ADMIN
from verihook.service.events import EventInput
from verihook.service.stats import window_hours


async def test_figures_count_every_attempt_not_only_the_newest_events(runtime: Runtime) -> None:
    service, store = runtime.service, runtime.service.ctx.store
    tenant = await service.authenticate((await service.tenants.create(ADMIN, "acme")).api_key)
    endpoint = (await service.endpoints.create(tenant, {"url": "https://receiver.example/hook"})).endpoint
    published = []
    for _ in range(4):  # 400 events: the oldest 100 fail, the newest 300 succeed
        published += await service.events.publish(tenant, [EventInput("order.created", {})] * 100)
    now = service.ctx.clock()
    results = []
    for index, event in enumerate(published):
        [delivery] = event.deliveries
        failed = index < 100
        attempt = Attempt(delivery.id, 1, now, 500 if failed else 200, 10.0 if failed else 20.0, None)
        results.append(DeliveryResult(delivery.id, delivery.event_id, attempt,
                                      DeliveryStatus.FAILED if failed else DeliveryStatus.SUCCEEDED, None))
    await store.record_results(results, now)

    health = await service.stats.endpoint_health(tenant, endpoint.id)
    assert (health.totals.attempts, health.totals.succeeded, health.totals.failed) == (400, 300, 100)
    assert health.success_rate == 0.75 and len(health.recent) == 20
    buckets = await service.stats.series(tenant, window_hours("7d")[1])
    [busy] = [b for b in buckets if b.attempts]  # the current hour (the one before, if it ended meanwhile)
    assert len(buckets) == 168 and (busy.attempts, busy.mean_latency_ms, busy.success_rate) == (400, 17.5, 0.75)
    stranger = await service.authenticate((await service.tenants.create(ADMIN, "stranger")).api_key)
    assert sum(b.attempts for b in await service.stats.series(stranger)) == 0
    assert window_hours("1y") == ("24h", 24)
