"""`store.failed_deliveries`, what the news sweep reads, on SQLite and on PostgreSQL: failed deliveries of
non-operational events in a window, in (time, id) order, paged after a (time, id)."""

from __future__ import annotations

from tests.integration.test_store_contract import a_draft, a_result, route, store, tenant_with_endpoint
from verihook.model import DeliveryStatus
from verihook.store.base import Store

__all__ = ["store"]  # the fixture

T = 1_800_000_000.0


async def test_failed_deliveries_in_a_window_paged(store: Store) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    await tenant_with_endpoint(store)
    published = await store.publish([a_draft(tenant.id, T), a_draft(tenant.id, T),
                                     a_draft(tenant.id, T, type="verihook.delivery.exhausted"),
                                     a_draft(tenant.id, T), a_draft(tenant.id, T)], route)
    failed_early, failed_late, news, succeeded, pending = [p.deliveries[0] for p in published]
    await store.record_results([a_result(failed_early.id, failed_early.event_id, 1, DeliveryStatus.FAILED, code=500),
                                a_result(news.id, news.event_id, 1, DeliveryStatus.FAILED, code=500),
                                a_result(succeeded.id, succeeded.event_id, 1, DeliveryStatus.SUCCEEDED)], T + 10)
    await store.record_results([a_result(failed_late.id, failed_late.event_id, 1, DeliveryStatus.FAILED, code=None),
                                a_result(pending.id, pending.event_id, 1, DeliveryStatus.PENDING, code=500,
                                         next_at=T + 100)], T + 20)

    found = await store.failed_deliveries(T, T + 30, 10)
    assert [d.id for d in found] == [failed_early.id, failed_late.id]  # never the news's own, nor pending ones
    early, late = found
    assert (early.event_id, early.tenant_id, early.endpoint_id, early.url, early.attempt_count,
            early.last_status_code, early.last_error, early.failed_at) == (
        failed_early.event_id, tenant.id, failed_early.endpoint_id, failed_early.url, 1, 500, None, T + 10)
    assert (late.last_status_code, late.last_error) == (None, "connect")
    assert [d.id for d in await store.failed_deliveries(T, T + 15, 10)] == [failed_early.id]
    assert [d.id for d in await store.failed_deliveries(T + 15, T + 30, 10)] == [failed_late.id]
    [first] = await store.failed_deliveries(T, T + 30, 1)
    assert [d.id for d in await store.failed_deliveries(T, T + 30, 1, (first.failed_at, first.id))] == [
        failed_late.id]
    assert await store.failed_deliveries(T, T + 30, 10, (late.failed_at, late.id)) == []
    assert await store.get_meta("news_keyed_since") == "0"  # a new database: every failure's news had its key
