"""Retention (docs/API.md, "Retention"), on SQLite and on PostgreSQL: finished events older than their tenant's
`retention_days` (else VERIHOOK_RETENTION_DAYS) are deleted with their deliveries and attempts, in batches, while
delivery goes on; a pending delivery's event is never deleted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp

from tests.integration.test_cli import verihook_cli
from tests.integration.test_metrics import scrape_until, value
from tests.integration.test_store_contract import (
    a_draft,
    a_result,
    an_endpoint,
    raw,
    route,
    store,
    tenant_with_endpoint,
)
from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests
from verihook.model import DeliveryStatus, Endpoint, Subject
from verihook.service.retention import DAY_S, Retention
from verihook.store.base import EventDraft, Purged, Recipient, Router, Store

__all__ = ["store"]  # the fixture

NOW = 1_800_000_000.0
OLD = NOW - 31 * DAY_S  # past the default 30 days
LEASE_S = 20.0


def nowhere(draft: EventDraft, subject: Subject | None, endpoints: Sequence[Endpoint]) -> list[Recipient]:
    return []


def skipped_to(endpoint: Endpoint) -> Router:
    def router(draft: EventDraft, subject: Subject | None, endpoints: Sequence[Endpoint]) -> list[Recipient]:
        return [Recipient(endpoint.id, endpoint.url, LEASE_S, skipped=True)]
    return router


async def _event_ids(url: str) -> set[str]:
    return {row[0] for row in await raw(url, "SELECT id FROM events")}


async def test_old_finished_events_go_with_their_deliveries_and_attempts_and_pending_ones_stay(
        store: Store, database_url: str) -> None:
    tenant, endpoint = await tenant_with_endpoint(store)
    second = an_endpoint(tenant.id)
    await store.insert_endpoint(second)
    succeeded, failed, pending, mixed = await store.publish([a_draft(tenant.id, OLD + n) for n in range(4)], route)
    [recent] = await store.publish([a_draft(tenant.id, NOW - DAY_S)], route)
    [bare] = await store.publish([a_draft(tenant.id, OLD)], nowhere)
    [skipped] = await store.publish([a_draft(tenant.id, OLD)], skipped_to(endpoint))
    results = [a_result(d.id, d.event_id, 1, DeliveryStatus.SUCCEEDED) for d in succeeded.deliveries]
    results += [a_result(d.id, d.event_id, 1, DeliveryStatus.FAILED, code=500) for d in failed.deliveries]
    results += [a_result(d.id, d.event_id, 1, DeliveryStatus.PENDING, code=500, next_at=NOW + 60)
                for d in pending.deliveries]
    results += [a_result(mixed.deliveries[0].id, mixed.event.id, 1, DeliveryStatus.SUCCEEDED),
                a_result(recent.deliveries[0].id, recent.event.id, 1, DeliveryStatus.SUCCEEDED)]
    await store.record_results(results, OLD + 10)  # mixed keeps one delivery pending, never tried

    retention = Retention(store, 30, 600, clock=lambda: NOW, pause_s=0)
    assert await retention.count() == Purged(events=4, deliveries=5, attempts=4)  # counted, nothing deleted
    assert len(await _event_ids(database_url)) == 7
    assert await retention.purge() == Purged(events=4, deliveries=5, attempts=4)
    assert await _event_ids(database_url) == {pending.event.id, mixed.event.id, recent.event.id}
    gone = [p.event.id for p in (succeeded, failed, bare, skipped)]
    for event_id in gone:
        assert await store.get_event(event_id) is None and await store.deliveries_of(event_id) == []
    kept_deliveries = {d.id for p in (pending, mixed, recent) for d in p.deliveries}
    assert {row[0] for row in await raw(database_url, "SELECT id FROM deliveries")} == kept_deliveries
    assert {row[0] for row in await raw(database_url, "SELECT delivery_id FROM attempts")} == {
        pending.deliveries[0].id, pending.deliveries[1].id, mixed.deliveries[0].id, recent.deliveries[0].id}
    assert await retention.purge() == Purged()


async def test_a_tenants_retention_days_overrides_the_default(store: Store, database_url: str) -> None:
    short, _ = await tenant_with_endpoint(store)
    long, _ = await tenant_with_endpoint(store)
    default, _ = await tenant_with_endpoint(store)
    await store.set_tenant_retention(short.id, 2)
    await store.set_tenant_retention(long.id, 90)
    assert dict(await store.tenant_retentions()) == {short.id: 2, long.id: 90, default.id: None}
    events = {}
    for tenant in (short, long, default):
        for age_days in (1, 3, 45):
            [published] = await store.publish([a_draft(tenant.id, NOW - age_days * DAY_S)], nowhere)
            events[tenant.id, age_days] = published.event.id

    assert (await Retention(store, 30, 600, clock=lambda: NOW, pause_s=0).purge()).events == 3
    kept = await _event_ids(database_url)
    assert kept == {events[key] for key in [(short.id, 1), (long.id, 1), (long.id, 3), (long.id, 45),
                                            (default.id, 1), (default.id, 3)]}


async def test_a_large_purge_goes_in_batches_while_events_are_published_and_delivered(
        database_url: str, receiver: Receiver) -> None:
    settings = settings_for_tests(database_url, retention_every_s=3600.0)
    async with running_verihook(settings) as running, aiohttp.ClientSession() as http:
        admin = Api(running.base_url, ADMIN_KEY, http)
        api = await admin.as_new_tenant("busy")
        tenant_id = (await api.get("/v1/tenants")).ok()["data"][0]["id"]
        endpoint = await api.endpoint(receiver.url)
        store = running.runtime.store
        hook = await store.get_endpoint(endpoint["id"])
        assert hook is not None
        old = time.time() - 40 * DAY_S
        for start in range(0, 3000, 500):  # half without deliveries, half with one skipped
            await store.publish([a_draft(tenant_id, old + start + n) for n in range(250)], nowhere)
            await store.publish([a_draft(tenant_id, old + start + 250 + n) for n in range(250)], skipped_to(hook))
        # an old event whose delivery failed once and waits an hour for its retry: pending, so kept
        receiver.handler = lambda received: Answer(500 if received.path_qs == "/later" else 200)
        later = await api.endpoint(receiver.url + "/later", retry={"strategy": "schedule", "delays_s": [3600]},
                                   event_types=["order.retried"])
        [kept] = await store.publish([a_draft(tenant_id, old, type="order.retried")], lambda d, s, eps: [
            Recipient(later["id"], later["url"], LEASE_S)])
        running.runtime.dispatcher.wake()
        deadline = time.monotonic() + 10
        while (await store.deliveries_of(kept.event.id))[0].attempt_count == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)

        retention = Retention(store, 30, 3600, batch=200)

        async def publish_meanwhile() -> list[str]:
            ids = []
            while retention.batches < 14:
                ids.append((await api.publish("order.created", {"n": len(ids)}))["id"])
                await asyncio.sleep(0.005)
            return ids

        deleted, published = await asyncio.gather(retention.purge(), publish_meanwhile())
        assert deleted.events == 3000 and retention.batches == 15
        assert len(published) >= 5  # publishing went on between the batches
        for event_id in published:
            await api.wait_event(event_id)
        numbers = [r.json()["data"]["n"] for r in receiver.requests if r.json()["type"] == "order.created"]
        assert sorted(numbers) == list(range(len(published)))
        listed = (await admin.get("/v1/events", params={"limit": 500})).ok()["data"]
        assert {e["id"] for e in listed} == {*published, kept.event.id}


async def test_the_dispatcher_runs_retention_as_a_side_task(database_url: str) -> None:
    settings = settings_for_tests(database_url, retention_every_s=0.2)
    async with running_verihook(settings) as running, aiohttp.ClientSession() as http:
        admin = Api(running.base_url, ADMIN_KEY, http)
        made = await admin.tenant("short", retention_days=1)
        store = running.runtime.store
        hook = an_endpoint(made["id"])
        await store.insert_endpoint(hook)
        [old] = await store.publish([a_draft(made["id"], time.time() - 2 * DAY_S)], skipped_to(hook))
        [young] = await store.publish([a_draft(made["id"], time.time() - 0.5 * DAY_S)], nowhere)
        deadline = time.monotonic() + 10
        while await store.get_event(old.event.id) is not None:
            assert time.monotonic() < deadline, "the retention task did not delete the old event"
            await asyncio.sleep(0.1)
        assert await store.get_event(young.event.id) is not None
        assert "verihook-retention" not in running.runtime.dispatcher.supervisor.down()
        assert (await admin.get("/readyz")).status == 200
        page = await scrape_until(admin, "verihook_retention_deleted_total", {"kind": "events"}, 1)
        assert value(page, "verihook_retention_deleted_total", {"kind": "deliveries"}) == 1
        assert value(page, "verihook_retention_deleted_total", {"kind": "attempts"}) == 0


async def test_retention_run_makes_one_pass_and_dry_run_only_counts(store: Store, database_url: str) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    old = time.time() - 40 * DAY_S
    published = await store.publish([a_draft(tenant.id, old + n) for n in range(2)], route)
    [young] = await store.publish([a_draft(tenant.id, time.time() - DAY_S)], route)
    await store.record_results([a_result(d.id, d.event_id, 1, DeliveryStatus.SUCCEEDED)
                                for p in (*published, young) for d in p.deliveries], old + 10)
    counts = {"events": 2, "deliveries": 2, "attempts": 2}

    assert (await verihook_cli(database_url, "retention", "run", "--dry-run")).json() == {**counts, "dry_run": True}
    assert len(await _event_ids(database_url)) == 3
    assert (await verihook_cli(database_url, "retention", "run")).json() == {**counts, "dry_run": False}
    assert await _event_ids(database_url) == {young.event.id}
    nothing = {"events": 0, "deliveries": 0, "attempts": 0, "dry_run": False}
    assert (await verihook_cli(database_url, "retention", "run")).json() == nothing
