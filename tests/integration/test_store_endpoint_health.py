"""The store's side of auto_disable, on both engines: the failing streak kept across batches of results, a success
ending it, re-enabling starting it afresh, and each endpoint answered as disabled once."""

from __future__ import annotations

from tests.integration.test_store_contract import T0, a_draft, a_result, route, store, tenant_with_endpoint
from verihook.model import AutoDisable, DeliveryResult, DeliveryStatus
from verihook.store.base import Store

__all__ = ["store"]  # the fixture, used by name

RULE = AutoDisable(failing_for_s=60, min_failures=3)
FAILED, PENDING, OK = DeliveryStatus.FAILED, DeliveryStatus.PENDING, DeliveryStatus.SUCCEEDED


async def test_the_streak_spans_batches_and_disables_once(store: Store) -> None:
    tenant, endpoint = await tenant_with_endpoint(store, auto_disable=RULE)
    published = await store.publish([a_draft(tenant.id) for _ in range(3)], route)
    deliveries = [p.deliveries[0] for p in published]

    def failure(index: int, number: int, at: float, status: DeliveryStatus = PENDING) -> DeliveryResult:
        d = deliveries[index]
        return a_result(d.id, d.event_id, number, status, code=500, at=at, streak_endpoint_id=endpoint.id,
                        auto_disable=RULE)

    assert await store.record_results([failure(0, 1, T0), failure(1, 1, T0 + 1)], T0 + 1) == []
    assert await store.record_results([failure(2, 1, T0 + 30)], T0 + 30) == []  # three, but only 30 s long
    disabled = await store.record_results([failure(0, 2, T0 + 61), failure(1, 2, T0 + 61)], T0 + 61)
    assert [(d.endpoint_id, d.tenant_id) for d in disabled] == [(endpoint.id, tenant.id)]
    assert disabled[0].reason == "every attempt failed for 1 minute (3 attempts or more)"
    stored = await store.get_endpoint(endpoint.id)
    assert stored is not None and not stored.enabled and stored.disabled_reason == disabled[0].reason
    assert await store.record_results([failure(2, 2, T0 + 62, FAILED)], T0 + 62) == []  # disabled already

    stored.enabled, stored.disabled_reason = True, None  # PATCH {"enabled": true}
    await store.update_endpoint(stored)
    assert await store.record_results([failure(0, 3, T0 + 200)], T0 + 200) == []  # a streak of one


async def test_a_success_ends_the_streak(store: Store) -> None:
    tenant, endpoint = await tenant_with_endpoint(store, auto_disable=RULE)
    published = await store.publish([a_draft(tenant.id) for _ in range(2)], route)
    first, second = (p.deliveries[0] for p in published)
    failing = [a_result(first.id, first.event_id, n, PENDING, code=500, at=T0 + n, streak_endpoint_id=endpoint.id,
                        auto_disable=RULE) for n in (1, 2)]
    await store.record_results(failing, T0 + 2)
    success = a_result(second.id, second.event_id, 1, OK, at=T0 + 3, streak_endpoint_id=endpoint.id,
                       auto_disable=RULE)
    late = a_result(first.id, first.event_id, 3, PENDING, code=500, at=T0 + 100, streak_endpoint_id=endpoint.id,
                    auto_disable=RULE)
    assert await store.record_results([success], T0 + 3) == []
    assert await store.record_results([late], T0 + 100) == []  # 97 s after the success: a streak of one
