"""The subject kept on each delivery (migration 0008): written on every path that makes a delivery, never changed
by the paths that requeue one, and filled in by the migration for the deliveries made before it; on SQLite and
on PostgreSQL. The subject listing's delivery-status filter reads it (store/status_sql.py)."""

from __future__ import annotations

from collections.abc import Sequence

from tests.integration.test_store_contract import (
    T0,
    a_draft,
    a_result,
    a_subject,
    an_endpoint,
    database_before,
    empty_url,
    open_test_store,
    raw,
    route,
    store,
    tenant_with_endpoint,
)
from verihook.model import DeliveryStatus, Endpoint, Subject, SubjectFilter
from verihook.store.base import EventDraft, Recipient, Store, SubjectUpdate

__all__ = ["empty_url", "store"]  # the fixtures


async def subjects_of_deliveries(url: str, event_ids: list[str]) -> dict[str, list[str | None]]:
    """Each event's deliveries' subject_id at rest, in delivery id order."""
    ids = ", ".join(f"'{event_id}'" for event_id in event_ids)
    rows = await raw(url, f"SELECT event_id, subject_id FROM deliveries WHERE event_id IN ({ids}) ORDER BY id")
    found: dict[str, list[str | None]] = {event_id: [] for event_id in event_ids}
    for event_id, subject_id in rows:
        found[event_id].append(subject_id)
    return found


async def test_every_delivery_keeps_its_events_subject(store: Store, database_url: str) -> None:
    tenant, endpoint = await tenant_with_endpoint(store)
    disabled = an_endpoint(tenant.id, enabled=False)
    await store.insert_endpoint(disabled)
    subject = a_subject(tenant.id, webhook_url="http://127.0.0.1:9/subject")
    await store.insert_subject(subject)

    def skipping_disabled(draft: EventDraft, subject: Subject | None, endpoints: Sequence[Endpoint]
                          ) -> list[Recipient]:
        return [*route(draft, subject, [endpoint]), Recipient(disabled.id, disabled.url, 20.0, skipped=True)]

    plain, of_subject = await store.publish([a_draft(tenant.id), a_draft(tenant.id, T0 + 1, subject_id=subject.id)],
                                            skipping_disabled)
    [changed] = await store.publish([a_draft(tenant.id, T0 + 2, subject_id=subject.id,
                                             update=SubjectUpdate("approved", None))], skipping_disabled)
    events = [plain.event.id, of_subject.event.id, changed.event.id]
    # the subject's webhook_url, the endpoint and the disabled endpoint (skipped) each have one
    assert [d.status for d in changed.deliveries].count(DeliveryStatus.SKIPPED) == 1
    expected = {plain.event.id: [None, None], of_subject.event.id: [subject.id] * 3,
                changed.event.id: [subject.id] * 3}
    assert await subjects_of_deliveries(database_url, events) == expected

    # results, redelivery and recovery change the status, never the subject
    await store.record_results([a_result(d.id, d.event_id, 1, DeliveryStatus.FAILED, code=500)
                                for d in of_subject.deliveries if d.status is DeliveryStatus.PENDING], T0 + 3)
    assert await store.redeliver_event(of_subject.event.id, T0 + 4) == 2
    await store.record_results([a_result(d.id, d.event_id, 2, DeliveryStatus.FAILED, code=500)
                                for d in of_subject.deliveries if d.status is DeliveryStatus.PENDING], T0 + 5)
    assert await store.recover_endpoint(endpoint.id, T0, T0 + 10, T0 + 6) == 1
    disabled.enabled = True
    await store.update_endpoint(disabled)
    assert await store.recover_endpoint(disabled.id, T0, T0 + 10, T0 + 7, include_skipped=True) == 3
    assert await subjects_of_deliveries(database_url, events) == expected
    # one of its deliveries (to its webhook_url) failed twice: failed beats pending
    failed = await store.list_subjects(SubjectFilter([tenant.id], None, DeliveryStatus.FAILED), 10, None)
    assert [s.id for s in failed.items] == [subject.id]
    pending = await store.list_subjects(SubjectFilter([tenant.id], None, DeliveryStatus.PENDING), 10, None)
    assert pending.items == []


_ROWS_BEFORE_0008 = [
    "INSERT INTO tenants (id, name, profile, require_https, api_key_hash, signing_secret, created_at)"
    f" VALUES ('ten_a', 'acme', 'standard', FALSE, 'hash-a', 'sealed', {T0})",
    "INSERT INTO subjects (id, tenant_id, kind, sequence, created_at, updated_at) VALUES {subjects}",
    "INSERT INTO events (id, tenant_id, type, data, subject_id, created_at) VALUES {events}",
    "INSERT INTO deliveries (id, event_id, tenant_id, url, status, lease_s, created_at, updated_at) VALUES"
    " {deliveries}",
]


async def test_the_migration_fills_in_the_subject_of_earlier_deliveries(empty_url: str) -> None:
    # p-ok: succeeded; p-bad: failed beats succeeded; p-skip: only skipped; evt_none: no subject, pending
    subjects = ", ".join(f"('{s}', 'ten_a', 'process', 1, {T0 + n}, {T0 + n})"
                         for n, s in enumerate(["p-ok", "p-bad", "p-skip"]))
    events = {"evt_ok": "'p-ok'", "evt_bad1": "'p-bad'", "evt_bad2": "'p-bad'", "evt_skip": "'p-skip'",
              "evt_none": "NULL"}
    statuses = {"evt_ok": "succeeded", "evt_bad1": "succeeded", "evt_bad2": "failed", "evt_skip": "skipped",
                "evt_none": "pending"}
    statements = [s.format(
        subjects=subjects,
        events=", ".join(f"('{e}', 'ten_a', 'order.created', '{{}}', {s}, {T0})" for e, s in events.items()),
        deliveries=", ".join(f"('dlv_{e}', '{e}', 'ten_a', 'http://127.0.0.1:9/', '{status}', 20, {T0}, {T0})"
                             for e, status in statuses.items()))
        for s in _ROWS_BEFORE_0008]
    await database_before(empty_url, "0008", statements)

    migrated = open_test_store(empty_url)
    try:
        assert (await migrated.migrate())[0] == "0008_delivery_subjects"
        assert dict(await raw(empty_url, "SELECT event_id, subject_id FROM deliveries")) == {
            "evt_ok": "p-ok", "evt_bad1": "p-bad", "evt_bad2": "p-bad", "evt_skip": "p-skip", "evt_none": None}

        async def listed(*statuses: DeliveryStatus | None) -> list[str]:
            page = await migrated.list_subjects(SubjectFilter(["ten_a"], None, list(statuses)), 10, None)
            return [s.id for s in page.items]

        assert await listed(DeliveryStatus.FAILED) == ["p-bad"]
        assert await listed(DeliveryStatus.SUCCEEDED) == ["p-ok"]
        assert await listed(DeliveryStatus.SKIPPED) == ["p-skip"]
        assert await listed(DeliveryStatus.PENDING) == []
        assert await listed(None) == ["p-skip"]
    finally:
        await migrated.close()
