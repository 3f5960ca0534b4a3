"""Subject ids are unique per tenant (migration 0005), on SQLite and on PostgreSQL: the store names a subject by
(tenant id, subject id), and a database made before 0005 keeps its subjects and their history."""

from __future__ import annotations

import pytest

from tests.integration.test_store_contract import (
    T0,
    a_draft,
    a_result,
    a_subject,
    database_before,
    empty_url,
    open_test_store,
    raw,
    route,
    store,
    tenant_with_endpoint,
)
from verihook.errors import NotFound
from verihook.model import DeliveryStatus, SubjectFilter
from verihook.store.base import Store, SubjectUpdate

__all__ = ["empty_url", "store"]  # the fixtures

SHARED_ID = "proc-0001"


async def test_two_tenants_each_keep_a_subject_of_the_same_id(store: Store) -> None:
    acme, _ = await tenant_with_endpoint(store)
    globex, _ = await tenant_with_endpoint(store)
    mine = a_subject(acme.id, id=SHARED_ID, status="created", profile="standard", webhook_url="http://127.0.0.1:9/a")
    theirs = a_subject(globex.id, at=T0 + 1, id=SHARED_ID, status="started", profile="credas")
    await store.insert_subject(mine)
    await store.insert_subject(theirs)  # no conflict: another tenant's id

    assert await store.get_subject(acme.id, SHARED_ID) == mine
    assert await store.get_subject(globex.id, SHARED_ID) == theirs
    assert await store.subjects_with_id(SHARED_ID, [acme.id], 5) == [mine]
    assert {s.tenant_id for s in await store.subjects_with_id(SHARED_ID, None, 5)} == {acme.id, globex.id}
    assert len(await store.subjects_with_id(SHARED_ID, None, 1)) == 1
    assert await store.subjects_with_id(SHARED_ID, ["ten_other"], 5) == []

    await store.set_subject_status(acme.id, SHARED_ID, SubjectUpdate("done", None), T0 + 5)
    [published] = await store.publish([a_draft(globex.id, T0 + 6, subject_id=SHARED_ID)], route)
    assert published.event.sequence == 1
    after_mine = await store.get_subject(acme.id, SHARED_ID)
    after_theirs = await store.get_subject(globex.id, SHARED_ID)
    assert after_mine is not None and (after_mine.status, after_mine.sequence) == ("done", 0)
    assert after_theirs is not None and (after_theirs.status, after_theirs.sequence) == ("started", 1)
    assert [h.status for h in await store.subject_history(acme.id, SHARED_ID)] == ["created", "done"]
    assert [h.status for h in await store.subject_history(globex.id, SHARED_ID)] == ["started"]

    # a claim reads the profile of the event's own tenant's subject
    [due] = await store.claim_due(T0 + 10, 10)
    assert (due.tenant_id, due.subject_id, due.subject_profile) == (globex.id, SHARED_ID, "credas")
    await store.record_results([a_result(due.id, due.event_id, 1, DeliveryStatus.FAILED, code=500)], T0 + 11)
    assert await store.subject_delivery_summary(globex.id, SHARED_ID) == {
        "pending": 0, "succeeded": 0, "failed": 1, "skipped": 0}
    assert await store.subject_delivery_summary(acme.id, SHARED_ID) == {
        "pending": 0, "succeeded": 0, "failed": 0, "skipped": 0}
    failing = await store.list_subjects(SubjectFilter(delivery_status=DeliveryStatus.FAILED), 10, None)
    assert [(s.tenant_id, s.id) for s in failing.items] == [(globex.id, SHARED_ID)]


async def test_an_event_names_its_own_tenants_subject(store: Store) -> None:
    """Publishing for a subject id that only another tenant has is refused (the id does not cross tenants)."""
    acme, _ = await tenant_with_endpoint(store)
    globex, _ = await tenant_with_endpoint(store)
    await store.insert_subject(a_subject(globex.id, id=SHARED_ID))
    with pytest.raises(NotFound, match=SHARED_ID):
        await store.publish([a_draft(acme.id, subject_id=SHARED_ID)], route)
    subject = await store.get_subject(globex.id, SHARED_ID)
    assert subject is not None and subject.sequence == 0


async def test_a_database_made_before_0005_keeps_its_subjects_and_history(empty_url: str) -> None:
    """The subjects (with their history, in order) of a database migrated up to 0004 survive 0005."""
    history = [("created", T0), ("started", T0 + 1), ("done", T0 + 1)]  # two at the same time: insertion order
    await database_before(empty_url, "0005", [
        "INSERT INTO tenants (id, name, parent_id, profile, require_https, api_key_hash, signing_secret, created_at)"
        f" VALUES ('ten_a', 'acme', NULL, 'standard', FALSE, 'hash-a', 'sealed', {T0})",
        "INSERT INTO subjects (id, tenant_id, kind, sequence, created_at, updated_at)"
        f" VALUES ('p-1', 'ten_a', 'process', 3, {T0}, {T0})",
        *(f"INSERT INTO subject_status_history (subject_id, status, at) VALUES ('p-1', '{status}', {at})"
          for status, at in history)])

    migrated = open_test_store(empty_url)
    try:
        applied = await migrated.migrate()
        assert applied[0] == "0005_tenant_scoped_subjects_retention"
        subject = await migrated.get_subject("ten_a", "p-1")
        assert subject is not None and (subject.kind, subject.sequence) == ("process", 3)
        assert [(h.status, h.at) for h in await migrated.subject_history("ten_a", "p-1")] == history
        await migrated.insert_subject(a_subject("ten_a", id="p-2"))
        assert await raw(empty_url, "SELECT count(*) FROM subjects") == [(2,)]
    finally:
        await migrated.close()
