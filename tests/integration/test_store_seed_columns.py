"""The store's additions for the seed drop-ins (migration 0003), on SQLite and on PostgreSQL."""

from __future__ import annotations

import orjson

from tests.integration.test_store_contract import T0, a_draft, a_result, raw, route, store, tenant_with_endpoint
from verihook.model import DeliveryStatus
from verihook.store.base import Store

__all__ = ["store"]  # the fixture


async def test_the_first_request_is_kept_sealed_and_read_back(store: Store, database_url: str) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    [published] = await store.publish([a_draft(tenant.id)], route)
    delivery = published.deliveries[0]
    assert await store.first_request(delivery.id) is None
    first = orjson.dumps({"cycle": T0, "headers": [["Authorization", "Bearer token-1"], ["x-a", "b"]]})
    await store.record_results([a_result(delivery.id, delivery.event_id, 1, DeliveryStatus.PENDING, code=500,
                                         next_at=T0 + 5, first_request=first)], T0)
    assert await store.first_request(delivery.id) == first
    [(at_rest,)] = await raw(database_url, f"SELECT first_request FROM deliveries WHERE id = '{delivery.id}'")
    assert at_rest.startswith("sealed:") and "token-1" not in at_rest
    # a later result without one keeps it
    await store.record_results([a_result(delivery.id, delivery.event_id, 2, DeliveryStatus.FAILED, code=500)], T0)
    assert await store.first_request(delivery.id) == first
