"""The Store contract: every method of the store interface, called directly, on SQLite and on PostgreSQL.

Both stores must answer the same way; where they may not (who else can be woken), the test says why.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import STORES
from tests.support import postgres as pg
from tests.support.server import SECRET_KEY, settings_for_tests
from verihook.errors import Conflict, InvalidInput, NotFound
from verihook.ids import new_id
from verihook.model import (
    Attempt,
    DeliveryResult,
    DeliveryStatus,
    Endpoint,
    EventFilter,
    SigningSecret,
    Subject,
    SubjectFilter,
    Tenant,
)
from verihook.runtime import open_store
from verihook.store.base import EventDraft, Recipient, Store, SubjectUpdate
from verihook.store.codec import encode_cursor
from verihook.store.postgres_conn import migration_scripts as postgres_scripts
from verihook.store.sqlite import migration_scripts as sqlite_scripts

T0 = 1_700_000_000.0
ODD_HEADERS = {"x-a": "b", "x-odd": 'q"uote\\ é \u0000 \U0001f600'}  # kept exactly, NUL included
LEASE_S = 20.0


async def raw(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows read around the store, to check what it keeps at rest."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    return [tuple(row) for row in await pg.query(url, sql)]


async def database_before(url: str, version: str, statements: Sequence[str]) -> None:
    """An empty database migrated as a release before `version` left it (every migration before that one), then
    `statements` (plain SQL with literals) run on it: the rows a migration must carry over."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at REAL)")
            for name, script in sqlite_scripts():
                if name < version:
                    conn.executescript(script)
                    conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (name,))
            for statement in statements:
                conn.execute(statement)
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY,"
                           " applied_at double precision NOT NULL)")
        for name, script in postgres_scripts():
            if name < version:
                await conn.execute(script)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, 0)", name)
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def open_test_store(url: str) -> Store:
    return open_store(settings_for_tests(url))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = open_test_store(database_url)
    await store.migrate()
    yield store
    await store.close()


@pytest.fixture(params=STORES)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    databases: pg.TestDatabases = request.getfixturevalue("pg_databases")
    url = databases.empty()
    yield url
    databases.drop(url)


def a_tenant(name: str = "acme", parent_id: str | None = None, at: float = T0) -> Tenant:
    return Tenant(id=new_id("ten"), name=name, parent_id=parent_id, profile="standard", require_https=False,
                  created_at=at)


def an_endpoint(tenant_id: str, at: float = T0, **changes: Any) -> Endpoint:
    endpoint = Endpoint(id=new_id("ep"), tenant_id=tenant_id, url="http://127.0.0.1:9/hook", description="",
                        enabled=True, event_types=None, profile=None, auth={"type": "none"}, timeout_s=None,
                        retry=None, success=None, headers={}, signing_enabled=True,
                        signing_secrets=[SigningSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")], created_at=at,
                        updated_at=at)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    return endpoint


def a_subject(tenant_id: str, at: float = T0, **changes: Any) -> Subject:
    subject = Subject(id=new_id("sub"), tenant_id=tenant_id, kind="process", external_id=None, profile=None,
                      webhook_url=None, status=None, data=None, sequence=0, created_at=at, updated_at=at)
    for name, value in changes.items():
        setattr(subject, name, value)
    return subject


def a_draft(tenant_id: str, at: float = T0, type: str = "order.created", subject_id: str | None = None,
            key: str | None = None, update: SubjectUpdate | None = None, data: bytes = b'{"n":1}') -> EventDraft:
    return EventDraft(id=new_id("evt"), tenant_id=tenant_id, type=type, data_json=data, subject_id=subject_id,
                      idempotency_key=key, created_at=at, subject_update=update)


def route(draft: EventDraft, subject: Subject | None, endpoints: Sequence[Endpoint]) -> list[Recipient]:
    destinations = []
    if subject is not None and subject.webhook_url:
        destinations.append(Recipient(None, subject.webhook_url, LEASE_S))
    destinations += [Recipient(e.id, e.url, LEASE_S) for e in endpoints if e.wants(draft.type)]
    return destinations


def a_result(delivery_id: str, event_id: str, number: int, status: DeliveryStatus, *, code: int | None = 200,
             at: float = T0, next_at: float | None = None, body: str | None = "ok", **extra: Any) -> DeliveryResult:
    attempt = Attempt(delivery_id=delivery_id, number=number, at=at, status_code=code, latency_ms=1.5,
                      error=None if code else "connect", error_detail=None if code else "refused",
                      request_headers={"webhook-id": event_id}, response_headers=ODD_HEADERS, response_body=body)
    return DeliveryResult(delivery_id=delivery_id, event_id=event_id, attempt=attempt, status=status,
                          next_attempt_at=next_at, **extra)


async def tenant_with_endpoint(store: Store, **endpoint: Any) -> tuple[Tenant, Endpoint]:
    tenant = a_tenant()
    await store.insert_tenant(tenant, new_id("keyhash"), "whsec_tenant")
    ep = an_endpoint(tenant.id, **endpoint)
    await store.insert_endpoint(ep)
    return tenant, ep


# schema


def migrations(url: str) -> list[str]:
    """The schema versions the store for `url` ships, in order."""
    scripts = sqlite_scripts() if url.startswith("sqlite:///") else postgres_scripts()
    return [version for version, _ in scripts]


async def test_both_stores_ship_the_same_migrations() -> None:
    """A schema change is written for both dialects, under the same version name."""
    versions = [v for v, _ in sqlite_scripts()]
    assert versions == [v for v, _ in postgres_scripts()]
    assert versions[:1] == ["0001_initial"]


async def test_migrate_brings_an_empty_database_up_to_date_once(empty_url: str) -> None:
    store = open_test_store(empty_url)
    try:
        assert await store.migrate() == migrations(empty_url)
        assert await store.migrate() == []
        await store.ping()
        assert await store.get_meta("nothing") is None
    finally:
        await store.close()


async def test_the_migrate_command_brings_the_schema_up_to_date(empty_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "VERIHOOK_SECRET_KEY": SECRET_KEY}

    async def migrate() -> Any:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "verihook.cli", "migrate", "--database-url", empty_url, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return json.loads(out)

    assert await migrate() == {"applied": migrations(empty_url)}
    assert await migrate() == {"applied": []}
    assert sorted(await raw(empty_url, "SELECT version FROM schema_migrations")) == [
        (version,) for version in migrations(empty_url)]


async def test_processes_starting_together_apply_each_migration_once(pg_databases: pg.TestDatabases) -> None:
    """PostgreSQL only: many `verihook api`/`worker` processes may start at once on one new database."""
    url = pg_databases.empty()
    stores = [open_test_store(url) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(s.migrate() for s in stores))
        assert sorted(v for versions in applied for v in versions) == migrations(url)
    finally:
        await asyncio.gather(*(s.close() for s in stores))
        pg_databases.drop(url)


async def test_a_meta_value_is_kept_once_stored(store: Store) -> None:
    assert await store.get_meta("admin") is None
    assert await store.put_meta_if_absent("admin", "one") == "one"
    assert await store.put_meta_if_absent("admin", "two") == "one"
    assert await store.get_meta("admin") == "one"


# tenants


async def test_tenants_their_keys_secrets_and_descendants(store: Store, database_url: str) -> None:
    root = a_tenant("root", at=T0)
    child = a_tenant("child", root.id, at=T0 + 1)
    grandchild = a_tenant("grandchild", child.id, at=T0 + 2)
    other = a_tenant("other", at=T0 + 3)
    for n, tenant in enumerate((root, child, grandchild, other)):
        await store.insert_tenant(tenant, f"hash-{n}", f"whsec_secret{n}")
    assert await store.get_tenant(child.id) == child
    assert await store.get_tenant("ten_missing") is None
    assert await store.tenant_by_key_hash("hash-2", T0) == (grandchild, None)
    assert await store.tenant_by_key_hash("hash-x", T0) is None
    assert await store.tenant_signing_secret(child.id) == "whsec_secret1"
    assert ("whsec_secret1",) not in await raw(database_url, "SELECT signing_secret FROM tenants")
    assert sorted(await store.descendant_ids(root.id)) == sorted([root.id, child.id, grandchild.id])
    assert await store.descendant_ids(other.id) == [other.id]

    first = await store.list_tenants(None, 3, None)
    assert [t.id for t in first.items] == [other.id, grandchild.id, child.id]
    second = await store.list_tenants(None, 3, first.next_cursor)
    assert [t.id for t in second.items] == [root.id] and second.next_cursor is None
    scoped = await store.list_tenants([root.id, child.id], 10, None)
    assert [t.id for t in scoped.items] == [child.id, root.id]


# endpoints


async def test_endpoints_round_trip_with_secrets_sealed_at_rest(store: Store, database_url: str) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    full = an_endpoint(
        tenant.id, at=T0 + 5, description="all fields", enabled=False, event_types=["a.b", "c.d"],
        profile="incode", auth={"type": "oauth2", "token_url": "http://127.0.0.1:1/t", "client_id": "id",
                                "client_secret": "s3cret"}, timeout_s=2.5,
        retry={"strategy": "schedule", "delays_s": [1, 2], "jitter": 0.0}, success="200-json-or-204",
        headers={"X-Name": "v"}, signing_enabled=False,
        signing_secrets=[SigningSecret("whsec_new"), SigningSecret("whsec_old", T0 + 100)],
        disabled_reason="410 Gone")
    await store.insert_endpoint(full)
    assert await store.get_endpoint(full.id) == full
    stored = " ".join(str(row) for row in await raw(database_url, "SELECT auth, signing_secrets FROM endpoints"))
    assert "s3cret" not in stored and "whsec_new" not in stored

    full.enabled, full.url, full.updated_at, full.deleted_at = True, "http://127.0.0.1:2/x", T0 + 6, None
    await store.update_endpoint(full)
    assert await store.get_endpoint(full.id) == full
    assert await store.get_endpoint("ep_missing") is None


async def test_endpoint_lists_page_newest_first_without_deleted_ones(store: Store) -> None:
    tenant, first = await tenant_with_endpoint(store, at=T0)
    second, third = an_endpoint(tenant.id, at=T0 + 1), an_endpoint(tenant.id, at=T0 + 2, deleted_at=T0 + 3)
    await store.insert_endpoint(second)
    await store.insert_endpoint(third)
    page = await store.list_endpoints([tenant.id], 1, None)
    assert [e.id for e in page.items] == [second.id] and page.next_cursor
    rest = await store.list_endpoints([tenant.id], 5, page.next_cursor)
    assert [e.id for e in rest.items] == [first.id] and rest.next_cursor is None
    assert (await store.list_endpoints(["ten_other"], 5, None)).items == []
    assert [e.id for e in (await store.list_endpoints(None, 5, None)).items] == [second.id, first.id]


# subjects


async def test_subjects_status_history_and_data(store: Store) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    subject = a_subject(tenant.id, status="created", data={"a": 1}, external_id="ext-1", webhook_url="http://x/y?q=1")
    bare = a_subject(tenant.id, at=T0 + 1, kind="validation")
    await store.insert_subject(subject)
    await store.insert_subject(bare)
    assert await store.get_subject(tenant.id, subject.id) == subject
    assert await store.get_subject(tenant.id, "sub_missing") is None
    history = await store.subject_history(tenant.id, subject.id)
    assert [(h.status, h.at, h.event_id) for h in history] == [("created", T0, None)]
    assert await store.subject_history(tenant.id, bare.id) == []

    await store.set_subject_status(tenant.id, subject.id, SubjectUpdate("in_progress", None), T0 + 10)
    kept = await store.get_subject(tenant.id, subject.id)
    assert kept is not None and (kept.status, kept.data, kept.updated_at) == ("in_progress", {"a": 1}, T0 + 10)
    await store.set_subject_status(tenant.id, subject.id, SubjectUpdate("done", b'{"b":2}'), T0 + 20)
    changed = await store.get_subject(tenant.id, subject.id)
    assert changed is not None and (changed.status, changed.data) == ("done", {"b": 2})
    assert [h.status for h in await store.subject_history(tenant.id, subject.id)] == ["created", "in_progress", "done"]

    assert [s.id for s in (await store.list_subjects(SubjectFilter([tenant.id]), 10, None)).items] == [
        bare.id, subject.id]
    assert [s.id for s in (await store.list_subjects(SubjectFilter(kind="validation"), 10, None)).items] == [bare.id]
    page = await store.list_subjects(SubjectFilter(), 1, None)
    assert [s.id for s in (await store.list_subjects(SubjectFilter(), 1, page.next_cursor)).items] == [subject.id]
    assert await store.subject_delivery_summary(tenant.id, subject.id) == {
        "pending": 0, "succeeded": 0, "failed": 0, "skipped": 0}


async def test_subjects_filter_and_summarise_by_delivery_status(store: Store) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    quiet, failing, waiting = (a_subject(tenant.id, at=T0 + n) for n in range(3))
    for subject in (quiet, failing, waiting):
        await store.insert_subject(subject)
    published = await store.publish([a_draft(tenant.id, subject_id=s.id) for s in (quiet, failing, waiting)]
                                    + [a_draft(tenant.id, subject_id=failing.id)], route)
    [ok, bad, _, _] = [p.deliveries[0] for p in published]
    await store.record_results([a_result(ok.id, ok.event_id, 1, DeliveryStatus.SUCCEEDED),
                                a_result(bad.id, bad.event_id, 1, DeliveryStatus.FAILED, code=500)], T0)

    async def having(status: DeliveryStatus) -> list[str]:
        return [s.id for s in (await store.list_subjects(SubjectFilter(delivery_status=status), 10, None)).items]

    assert await having(DeliveryStatus.SUCCEEDED) == [quiet.id]
    assert await having(DeliveryStatus.FAILED) == [failing.id]
    assert await having(DeliveryStatus.PENDING) == [waiting.id]
    assert await store.subject_delivery_summary(tenant.id, failing.id) == {
        "pending": 1, "succeeded": 0, "failed": 1, "skipped": 0}


# publishing


async def test_publish_fans_out_to_wanted_endpoints_and_the_subjects_own_url(store: Store) -> None:
    tenant, wants_all = await tenant_with_endpoint(store)
    picky = an_endpoint(tenant.id, event_types=["other.type"])
    off = an_endpoint(tenant.id, enabled=False)
    gone = an_endpoint(tenant.id, deleted_at=T0)
    for endpoint in (picky, off, gone):
        await store.insert_endpoint(endpoint)
    subject = a_subject(tenant.id, webhook_url="http://127.0.0.1:9/own?x=1")
    await store.insert_subject(subject)

    [published] = await store.publish([a_draft(tenant.id, subject_id=subject.id, data=b'{"k":"v"}')], route)
    assert not published.duplicate
    assert published.event.sequence == 1 and published.event.data == {"k": "v"}
    assert [(d.endpoint_id, d.url, d.status, d.attempt_count) for d in published.deliveries] == [
        (None, "http://127.0.0.1:9/own?x=1", DeliveryStatus.PENDING, 0),
        (wants_all.id, wants_all.url, DeliveryStatus.PENDING, 0)]
    assert all(d.next_attempt_at == T0 for d in published.deliveries)
    assert await store.get_event(published.event.id) == published.event
    assert await store.get_event("evt_missing") is None
    stored = await store.deliveries_of(published.event.id)
    assert [d.id for d in stored] == [d.id for d in published.deliveries]
    assert all(d.attempts == [] for d in stored)


async def test_publish_numbers_each_subjects_events_and_records_status_changes(store: Store) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    subject = a_subject(tenant.id, status="created")
    await store.insert_subject(subject)
    drafts = [a_draft(tenant.id, T0 + 1, subject_id=subject.id),
              a_draft(tenant.id, T0 + 2, subject_id=subject.id, update=SubjectUpdate("done", b'{"r":1}')),
              a_draft(tenant.id, T0 + 3, subject_id=subject.id)]
    published = await store.publish(drafts, route)
    assert [p.event.sequence for p in published] == [1, 2, 3]
    after = await store.get_subject(tenant.id, subject.id)
    assert after is not None and (after.sequence, after.status, after.data) == (3, "done", {"r": 1})
    history = await store.subject_history(tenant.id, subject.id)
    assert [(h.status, h.event_id) for h in history] == [("created", None), ("done", drafts[1].id)]
    [later] = await store.publish([a_draft(tenant.id, T0 + 4, subject_id=subject.id)], route)
    assert later.event.sequence == 4


async def test_times_are_kept_to_the_last_bit(store: Store) -> None:
    """Cursors compare stored times exactly: what is written, batched or not, reads back as the same float."""
    tenant, _ = await tenant_with_endpoint(store)
    times = [1_700_000_000.123456789, 1_699_999_999.9999998, 1_700_000_000.1 + 0.2]
    published = await store.publish([a_draft(tenant.id, at) for at in times], route)
    for made, at in zip(published, times, strict=True):
        stored = await store.get_event(made.event.id)
        assert stored is not None and stored.created_at == at
        [delivery] = await store.deliveries_of(made.event.id)
        assert (delivery.created_at, delivery.next_attempt_at, delivery.updated_at) == (at, at, at)
    claimed = await store.claim_due(max(times), 10)
    assert sorted((d.event_created_at, d.created_at, d.cycle_started_at) for d in claimed) == sorted(
        (at, at, at) for at in times)


async def test_an_idempotency_key_returns_the_first_event_within_and_across_batches(store: Store) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    other, _ = await tenant_with_endpoint(store)
    first, again, elsewhere = (a_draft(tenant.id, key="k-1"), a_draft(tenant.id, key="k-1"),
                               a_draft(other.id, key="k-1"))
    one, two, three = await store.publish([first, again, elsewhere], route)
    assert (one.duplicate, two.duplicate, three.duplicate) == (False, True, False)
    assert two.event.id == first.id and [d.id for d in two.deliveries] == [d.id for d in one.deliveries]
    [later] = await store.publish([a_draft(tenant.id, key="k-1")], route)
    assert later.duplicate and later.event == one.event
    assert [d.id for d in later.deliveries] == [d.id for d in one.deliveries]
    page = await store.list_events(EventFilter(tenant_ids=[tenant.id]), 10, None)
    assert [e.id for e in page.items] == [first.id]


async def test_concurrent_publishers_of_one_idempotency_key_make_one_event(database_url: str) -> None:
    """Two stores on one database (two processes); the key must hold across them."""
    stores = [open_test_store(database_url) for _ in range(2)]
    try:
        await stores[0].migrate()
        tenant, _ = await tenant_with_endpoint(stores[0])
        for round_ in range(10):
            key = f"race-{round_}"
            results = await asyncio.gather(*(s.publish([a_draft(tenant.id, key=key)], route) for s in stores))
            made = [p for [p] in results]
            assert sorted(p.duplicate for p in made) == [False, True]
            assert made[0].event.id == made[1].event.id
    finally:
        await asyncio.gather(*(s.close() for s in stores))


# queries


async def test_list_events_filters_and_pages(store: Store) -> None:
    tenant, endpoint = await tenant_with_endpoint(store)
    other, _ = await tenant_with_endpoint(store)
    subject = a_subject(tenant.id)
    await store.insert_subject(subject)
    drafts = [a_draft(tenant.id, T0 + 1, type="a.one"), a_draft(tenant.id, T0 + 2, type="b.two"),
              a_draft(tenant.id, T0 + 3, type="a.one", subject_id=subject.id), a_draft(other.id, T0 + 4)]
    published = await store.publish(drafts, route)
    ids = [d.id for d in drafts]

    async def listed(limit: int = 10, cursor: str | None = None, **where: Any) -> list[str]:
        return [e.id for e in (await store.list_events(EventFilter(**where), limit, cursor)).items]

    assert await listed() == ids[::-1]
    assert await listed(tenant_ids=[tenant.id]) == ids[2::-1]
    assert await listed(type="a.one") == [ids[2], ids[0]]
    assert await listed(subject_id=subject.id) == [ids[2]]
    assert await listed(endpoint_id=endpoint.id) == ids[2::-1]
    assert await listed(since=T0 + 2, until=T0 + 4) == [ids[2], ids[1]]
    page = await store.list_events(EventFilter(), 2, None)
    assert [e.id for e in page.items] == [ids[3], ids[2]]
    assert await listed(cursor=page.next_cursor) == [ids[1], ids[0]]

    d0, d1 = published[0].deliveries[0], published[1].deliveries[0]
    await store.record_results([a_result(d0.id, d0.event_id, 1, DeliveryStatus.SUCCEEDED),
                                a_result(d1.id, d1.event_id, 1, DeliveryStatus.FAILED, code=410)], T0)
    assert await listed(delivery_status=DeliveryStatus.SUCCEEDED) == [ids[0]]
    assert await listed(delivery_status=DeliveryStatus.FAILED) == [ids[1]]
    assert await listed(delivery_status=DeliveryStatus.PENDING) == [ids[3], ids[2]]
    statuses = await store.event_delivery_statuses([ids[0], ids[1], ids[2], "evt_none"])
    assert statuses == {ids[0]: DeliveryStatus.SUCCEEDED, ids[1]: DeliveryStatus.FAILED,
                        ids[2]: DeliveryStatus.PENDING, "evt_none": None}
    assert await store.event_delivery_statuses([]) == {}


async def test_event_types_are_upserted_and_listed_by_name(store: Store) -> None:
    assert await store.list_event_types() == []
    await store.upsert_event_type("z.last", "", b'{"type":"object"}', T0)
    await store.upsert_event_type("a.first", "one", b"{}", T0)
    await store.upsert_event_type("a.first", "two", b'{"required":["x"]}', T0 + 1)
    assert await store.list_event_types() == [("a.first", "two", b'{"required":["x"]}'),
                                              ("z.last", "", b'{"type":"object"}')]


# the dispatcher's hot path


async def test_claims_are_leased_until_they_run_out(store: Store) -> None:
    tenant, endpoint = await tenant_with_endpoint(store)
    subject = a_subject(tenant.id, profile="credas")
    await store.insert_subject(subject)
    later = a_draft(tenant.id, T0 + 5)
    first = a_draft(tenant.id, T0, subject_id=subject.id, data=b'{"x":[1,2]}')
    await store.publish([later, first], route)
    assert await store.claim_due(T0 - 1, 10) == []
    [due] = await store.claim_due(T0 + 1, 10)
    assert (due.event_id, due.endpoint_id, due.url, due.attempt_count, due.cycle_attempts) == (
        first.id, endpoint.id, endpoint.url, 0, 0)
    assert (due.event_type, due.event_data_json, due.event_created_at, due.subject_id, due.sequence) == (
        "order.created", b'{"x":[1,2]}', T0, subject.id, 1)
    assert (due.subject_profile, due.endpoint_version, due.tenant_id, due.created_at, due.cycle_started_at) == (
        "credas", endpoint.updated_at, tenant.id, T0, T0)
    assert await store.claim_due(T0 + 1, 10) == []  # leased
    [other] = await store.claim_due(T0 + 6, 10)
    assert other.event_id == later.id
    assert [d.id for d in await store.claim_due(T0 + 1 + LEASE_S, 10)] == [due.id]  # the first lease ran out
    await store.extend_leases([due.id, other.id], T0 + 30)
    assert await store.claim_due(T0 + 30 + LEASE_S - 1, 10) == []
    assert len(await store.claim_due(T0 + 30 + LEASE_S, 10)) == 2


async def test_claims_take_the_oldest_due_first_up_to_the_limit(store: Store) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    drafts = [a_draft(tenant.id, T0 + n) for n in (3, 1, 2, 0)]
    await store.publish(drafts, route)
    assert [d.event_created_at for d in await store.claim_due(T0 + 10, 2)] == [T0, T0 + 1]
    assert [d.event_created_at for d in await store.claim_due(T0 + 10, 5)] == [T0 + 2, T0 + 3]


async def test_the_oldest_due_delivery_is_the_one_waiting_longest_to_be_claimed(store: Store) -> None:
    tenant, _ = await tenant_with_endpoint(store)
    assert await store.oldest_due_at(T0) is None
    await store.publish([a_draft(tenant.id, T0 + n) for n in (2, 0, 5)], route)
    assert await store.oldest_due_at(T0 - 1) is None  # nothing is due yet
    assert await store.oldest_due_at(T0 + 3) == T0
    [claimed] = await store.claim_due(T0 + 3, 1)
    assert await store.oldest_due_at(T0 + 3) == T0 + 2  # a claimed delivery is not waiting
    assert await store.oldest_due_at(T0 + 3 + LEASE_S) == T0  # unless its lease ran out
    await store.defer([(claimed.id, T0 + 9)], T0 + 3)
    assert await store.oldest_due_at(T0 + 9) == T0 + 2


async def test_two_stores_claiming_at_once_never_take_the_same_delivery(database_url: str) -> None:
    stores = [open_test_store(database_url) for _ in range(3)]
    try:
        await stores[0].migrate()
        tenant, _ = await tenant_with_endpoint(stores[0])
        await stores[0].publish([a_draft(tenant.id, T0) for _ in range(300)], route)
        claimed: list[str] = []
        for _ in range(12):
            batches = await asyncio.gather(*(s.claim_due(T0 + 1, 10) for s in stores))
            claimed += [d.id for batch in batches for d in batch]
        assert len(claimed) == len(set(claimed)) == 300
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_results_record_attempts_and_move_deliveries_on(store: Store) -> None:
    tenant, endpoint = await tenant_with_endpoint(store)
    published = await store.publish([a_draft(tenant.id, T0), a_draft(tenant.id, T0), a_draft(tenant.id, T0)], route)
    ok, retry, gone = (p.deliveries[0] for p in published)
    assert await store.next_due_at() == T0
    stats = await store.queue_stats()
    assert (stats.pending, stats.oldest_pending_created_at) == (3, T0)
    await store.claim_due(T0, 10)
    await store.record_results([
        a_result(ok.id, ok.event_id, 1, DeliveryStatus.SUCCEEDED, body="nul\x00inside"),
        a_result(retry.id, retry.event_id, 1, DeliveryStatus.PENDING, code=None, next_at=T0 + 5, body=None),
        a_result(gone.id, gone.event_id, 1, DeliveryStatus.FAILED, code=410, disable_endpoint_id=endpoint.id,
                 disable_reason="410 Gone"),
    ], T0 + 1)
    [done] = await store.deliveries_of(ok.event_id)
    assert (done.status, done.attempt_count, done.cycle_attempts, done.next_attempt_at, done.last_status_code,
            done.updated_at) == (DeliveryStatus.SUCCEEDED, 1, 1, None, 200, T0 + 1)
    [attempt] = done.attempts
    assert (attempt.number, attempt.at, attempt.status_code, attempt.latency_ms, attempt.request_headers,
            attempt.response_headers) == (1, T0, 200, 1.5, {"webhook-id": ok.event_id}, ODD_HEADERS)
    assert attempt.response_body == "nul\ufffdinside"
    [waiting] = await store.deliveries_of(retry.event_id)
    assert (waiting.status, waiting.next_attempt_at, waiting.last_error) == (DeliveryStatus.PENDING, T0 + 5,
                                                                           "connect")
    assert waiting.attempts[0].error_detail == "refused"
    assert await store.next_due_at() == T0 + 5
    assert [d.id for d in await store.claim_due(T0 + 5, 10)] == [retry.id]  # the result ended the lease
    [failed] = await store.deliveries_of(gone.event_id, with_attempts=False)
    assert (failed.status, failed.attempts) == (DeliveryStatus.FAILED, [])
    disabled = await store.get_endpoint(endpoint.id)
    assert disabled is not None and (disabled.enabled, disabled.disabled_reason) == (False, "410 Gone")
    assert (await store.queue_stats()).pending == 1
    await store.record_results([], T0 + 2)


async def test_an_answer_that_is_not_valid_unicode_is_still_recorded(store: Store) -> None:
    """aiohttp keeps undecodable header bytes as lone surrogates, which JSON cannot hold: they are replaced, since a
    result that could not be written would block every later one."""
    tenant, _ = await tenant_with_endpoint(store)
    [published] = await store.publish([a_draft(tenant.id)], route)
    delivery = published.deliveries[0]
    result = a_result(delivery.id, delivery.event_id, 1, DeliveryStatus.SUCCEEDED, body="caf\udce9")
    result.attempt.response_headers = {"x-bad": "caf\udce9"}
    result.attempt.error_detail = "\ud800"
    await store.record_results([result], T0)
    [recorded] = await store.deliveries_of(delivery.event_id)
    [attempt] = recorded.attempts
    assert (recorded.status, attempt.response_headers, attempt.response_body, attempt.error_detail) == (
        DeliveryStatus.SUCCEEDED, {"x-bad": "caf?"}, "caf?", "?")


async def test_nul_in_a_recorded_answer_is_replaced_not_cut(store: Store) -> None:
    """A receiver's answer may hold NUL: both stores keep all of it, each NUL replaced by U+FFFD (SQLite's JSON
    functions would cut the text at the NUL, PostgreSQL text cannot hold it), and headers exactly."""
    tenant, _ = await tenant_with_endpoint(store)
    [published] = await store.publish([a_draft(tenant.id)], route)
    delivery = published.deliveries[0]
    result = a_result(delivery.id, delivery.event_id, 1, DeliveryStatus.PENDING, code=None, next_at=T0 + 5,
                      body="before\x00after")
    result.attempt.error, result.attempt.error_detail = "conn\x00ect", "re\x00fused\x00"
    await store.record_results([result], T0)
    [recorded] = await store.deliveries_of(delivery.event_id)
    [attempt] = recorded.attempts
    assert (attempt.response_body, attempt.error, attempt.error_detail, recorded.last_error) == (
        "before\ufffdafter", "conn\ufffdect", "re\ufffdfused\ufffd", "conn\ufffdect")
    assert attempt.response_headers == ODD_HEADERS


async def test_nul_and_lone_surrogates_in_text_are_refused_as_invalid_input(store: Store) -> None:
    """PostgreSQL text cannot hold NUL and neither driver can encode a lone surrogate: both stores refuse such text
    as invalid input (422), in writes and in lookups, and keep nothing of the call."""
    tenant, _ = await tenant_with_endpoint(store)
    for bad, refused in (("nul\x00name", "NUL"), ("lone\ud800surrogate", "surrogate")):
        with pytest.raises(InvalidInput, match=refused):
            await store.insert_tenant(a_tenant(bad), new_id("keyhash"), "whsec_x")
        with pytest.raises(InvalidInput, match=refused):
            await store.get_tenant(f"ten_{bad}")
        with pytest.raises(InvalidInput, match=refused):
            await store.put_meta_if_absent(bad, "v")
        with pytest.raises(InvalidInput, match=refused):
            await store.upsert_event_type(bad, "", b"{}", T0)
        with pytest.raises(InvalidInput, match=refused):
            await store.publish([a_draft(tenant.id), a_draft(tenant.id, key=bad)], route)
        with pytest.raises(InvalidInput, match=refused):
            await store.list_events(EventFilter(type=bad), 10, None)
        with pytest.raises(InvalidInput, match=refused):
            await store.list_events(EventFilter(tenant_ids=[tenant.id, bad]), 10, None)
    assert [t.id for t in (await store.list_tenants(None, 10, None)).items] == [tenant.id]
    assert (await store.list_events(EventFilter(), 10, None)).items == []
    assert await store.list_event_types() == []


async def test_a_missing_tenant_has_no_signing_secret(store: Store) -> None:
    with pytest.raises(NotFound, match="ten_missing"):
        await store.tenant_signing_secret("ten_missing")


async def test_a_status_change_of_a_missing_subject_is_refused_and_records_nothing(
        store: Store, database_url: str) -> None:
    with pytest.raises(NotFound, match="sub_missing"):
        await store.set_subject_status("ten_missing", "sub_missing", SubjectUpdate("done", None), T0)
    assert await raw(database_url, "SELECT count(*) FROM subject_status_history") == [(0,)]


async def test_publishing_for_a_missing_subject_publishes_nothing(store: Store) -> None:
    """The whole batch is refused, as with any other error inside it."""
    tenant, _ = await tenant_with_endpoint(store)
    for update in (None, SubjectUpdate("done", None)):
        with pytest.raises(NotFound, match="sub_missing"):
            await store.publish([a_draft(tenant.id), a_draft(tenant.id, subject_id="sub_missing", update=update)],
                                route)
    assert (await store.list_events(EventFilter(), 10, None)).items == []
    assert await store.claim_due(T0 + 1, 10) == []


async def test_a_row_that_exists_already_is_a_conflict(store: Store) -> None:
    tenant, endpoint = await tenant_with_endpoint(store)
    subject = a_subject(tenant.id)
    await store.insert_subject(subject)
    [published] = await store.publish([a_draft(tenant.id)], route)
    with pytest.raises(Conflict):
        await store.insert_tenant(tenant, new_id("keyhash"), "whsec_x")
    await store.insert_tenant(second := a_tenant(), "hash-taken", "whsec_x")
    with pytest.raises(Conflict):
        await store.insert_tenant(a_tenant(), "hash-taken", "whsec_x")
    with pytest.raises(Conflict):
        await store.insert_endpoint(endpoint)
    with pytest.raises(Conflict):
        await store.insert_subject(subject)
    again = a_draft(tenant.id)
    again.id = published.event.id
    with pytest.raises(Conflict):
        await store.publish([again], route)
    assert {t.id for t in (await store.list_tenants(None, 10, None)).items} == {tenant.id, second.id}


async def test_a_row_that_refers_to_a_missing_tenant_is_refused(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.insert_endpoint(an_endpoint("ten_missing"))
    with pytest.raises(NotFound):
        await store.insert_subject(a_subject("ten_missing", status="created"))
    assert await store.get_subject("ten_missing", "sub_x") is None
    assert (await store.list_endpoints(None, 10, None)).items == []


async def test_a_cursor_with_a_time_no_row_has_is_refused(store: Store) -> None:
    """NaN sorts last in PostgreSQL and matches nothing in SQLite: neither engine may read it."""
    tenant, _ = await tenant_with_endpoint(store)
    await store.publish([a_draft(tenant.id)], route)
    for at in (math.nan, math.inf, -math.inf):
        cursor = encode_cursor(at, "evt_x")
        with pytest.raises(InvalidInput) as refused:
            await store.list_events(EventFilter(), 10, cursor)
        assert refused.value.field == "cursor"
        with pytest.raises(InvalidInput):
            await store.list_tenants(None, 10, cursor)


async def test_a_scope_of_more_tenants_than_sqlite_binds_at_once(store: Store) -> None:
    """A tenant tree may be larger than the host parameters one SQLite statement takes (this build's limit)."""
    limit = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    tenant, _ = await tenant_with_endpoint(store)
    [published] = await store.publish([a_draft(tenant.id)], route)
    scope = [f"ten_{n:07d}" for n in range(limit)] + [tenant.id]
    assert [t.id for t in (await store.list_tenants(scope, 10, None)).items] == [tenant.id]
    assert [e.id for e in (await store.list_events(EventFilter(tenant_ids=scope), 10, None)).items] == [
        published.event.id]
    statuses = await store.event_delivery_statuses([*scope, published.event.id])
    assert len(statuses) == limit + 2 and statuses[published.event.id] == DeliveryStatus.PENDING


async def test_deliveries_are_read_with_the_attempts_they_count(store: Store) -> None:
    """One snapshot: results recorded meanwhile show in both the counts and the attempts, or in neither."""
    tenant, _ = await tenant_with_endpoint(store)
    [published] = await store.publish([a_draft(tenant.id)], route)
    delivery = published.deliveries[0]
    recording = True

    async def record() -> None:
        nonlocal recording
        for number in range(1, 301):
            await store.record_results([a_result(delivery.id, delivery.event_id, number, DeliveryStatus.PENDING,
                                                 code=500, next_at=T0 + number)], T0 + number)
        recording = False

    async def read() -> list[tuple[int, int]]:
        torn = []
        while recording:
            [seen] = await store.deliveries_of(delivery.event_id)
            if seen.attempt_count != len(seen.attempts):
                torn.append((seen.attempt_count, len(seen.attempts)))
        return torn

    _, torn = await asyncio.gather(record(), read())
    assert torn == []


async def test_redeliver_and_recover_requeue_deliveries(store: Store) -> None:
    tenant, endpoint = await tenant_with_endpoint(store)
    published = await store.publish([a_draft(tenant.id, T0 + n) for n in range(3)], route)
    d = [p.deliveries[0] for p in published]
    await store.record_results([a_result(d[0].id, d[0].event_id, 1, DeliveryStatus.SUCCEEDED),
                                a_result(d[1].id, d[1].event_id, 1, DeliveryStatus.FAILED, code=500),
                                a_result(d[2].id, d[2].event_id, 1, DeliveryStatus.FAILED, code=500)], T0 + 5)

    assert await store.redeliver_event(d[0].event_id, T0 + 10) == 1
    [again] = await store.deliveries_of(d[0].event_id)
    assert (again.status, again.cycle_attempts, again.attempt_count, again.next_attempt_at) == (
        DeliveryStatus.PENDING, 0, 1, T0 + 10)
    [due] = await store.claim_due(T0 + 10, 10)
    assert (due.id, due.cycle_attempts, due.attempt_count, due.cycle_started_at) == (again.id, 0, 1, T0 + 10)

    assert await store.recover_endpoint(endpoint.id, T0 + 2, T0 + 3, T0 + 11) == 1
    assert [x.status for x in await store.deliveries_of(d[1].event_id)] == [DeliveryStatus.FAILED]
    assert [x.status for x in await store.deliveries_of(d[2].event_id)] == [DeliveryStatus.PENDING]
    assert await store.recover_endpoint(endpoint.id, T0, T0 + 100, T0 + 12) == 1

    endpoint.deleted_at = T0 + 20
    await store.update_endpoint(endpoint)
    assert await store.redeliver_event(d[0].event_id, T0 + 21) == 0


async def test_attempts_are_counted_by_hour_alike_on_both_engines(store: Store) -> None:
    """Hours are [start, start + 3600) from the window's start: an attempt half an hour or more into an hour (where
    a rounding cast would move it on), the last moment of an hour and the first of the next each land where they
    belong; an attempt's success or failure is its delivery's outcome where it is the delivery's last."""
    hour = T0 // 3600 * 3600
    tenant, endpoint = await tenant_with_endpoint(store)
    other_endpoint = an_endpoint(tenant.id)
    await store.insert_endpoint(other_endpoint)
    stranger, stranger_endpoint = await tenant_with_endpoint(store)
    published = await store.publish([a_draft(tenant.id, hour) for _ in range(3)], route)
    retried, failing, lost = ({d.endpoint_id: d for d in p.deliveries} for p in published)
    [theirs] = [p.deliveries[0] for p in await store.publish([a_draft(stranger.id, hour)], route)]

    def result(delivery: Any, number: int, status: DeliveryStatus, at: float, latency_ms: float,
               code: int | None = 200) -> DeliveryResult:
        made = a_result(delivery.id, delivery.event_id, number, status, code=code, at=at, next_at=at + 1)
        made.attempt.latency_ms = latency_ms
        return made

    e, o = endpoint.id, other_endpoint.id
    await store.record_results([
        result(retried[e], 1, DeliveryStatus.PENDING, hour + 1800.5, 100.0, code=503),  # 0.50014 h: rounds to 1
        result(retried[o], 1, DeliveryStatus.SUCCEEDED, hour + 10, 7.0),
        result(failing[e], 1, DeliveryStatus.PENDING, hour + 3599.999, 40.0, code=None),  # no answer: no latency
        result(failing[o], 1, DeliveryStatus.SUCCEEDED, hour + 3 * 3600, 1.0),  # the window's end: not in it
        result(lost[e], 1, DeliveryStatus.FAILED, hour - 0.001, 1.0, code=500),  # before the window
        result(theirs, 1, DeliveryStatus.SUCCEEDED, hour + 20, 1.0),
    ], hour + 3600)
    await store.record_results([
        result(retried[e], 2, DeliveryStatus.SUCCEEDED, hour + 3600.0, 30.0),
        result(failing[e], 2, DeliveryStatus.FAILED, hour + 3 * 3600 - 0.5, 60.0, code=500),
    ], hour + 4 * 3600)

    def figures(hours: list[Any]) -> list[tuple[float, int, int, int, float | None]]:
        return [(h.start - hour, h.attempts, h.succeeded, h.failed, h.mean_latency_ms) for h in hours]

    assert figures(await store.attempts_by_hour([tenant.id], endpoint.id, hour, 3)) == [
        (0.0, 2, 0, 0, 100.0), (3600.0, 1, 1, 0, 30.0), (7200.0, 1, 0, 1, 60.0)]
    assert figures(await store.attempts_by_hour([tenant.id], None, hour, 3)) == [
        (0.0, 3, 1, 0, 53.5), (3600.0, 1, 1, 0, 30.0), (7200.0, 1, 0, 1, 60.0)]
    assert figures(await store.attempts_by_hour(None, None, hour, 3)) == [
        (0.0, 4, 2, 0, 36.0), (3600.0, 1, 1, 0, 30.0), (7200.0, 1, 0, 1, 60.0)]
    assert figures(await store.attempts_by_hour([stranger.id], stranger_endpoint.id, hour + 3600, 2)) == []
    assert figures(await store.attempts_by_hour([tenant.id], endpoint.id, hour + 3600, 1)) == [
        (3600.0, 1, 1, 0, 30.0)]


async def test_an_attempt_of_a_replaced_cycle_does_not_end_the_new_one(store: Store) -> None:
    """A redeliver while an attempt is out starts a new cycle; that attempt's failure is recorded but neither fails
    nor schedules the new cycle, while its success still ends the delivery."""
    tenant, _ = await tenant_with_endpoint(store)
    published = await store.publish([a_draft(tenant.id, T0), a_draft(tenant.id, T0)], route)
    failing, passing = (p.deliveries[0] for p in published)
    claimed = {d.id: d for d in await store.claim_due(T0, 10)}
    for delivery in (failing, passing):
        assert await store.redeliver_event(delivery.event_id, T0 + 2) == 1
        assert await store.claim_due(T0 + 2, 10) == []  # the attempt out keeps its lease
    old_cycle = claimed[failing.id].cycle_started_at
    assert old_cycle == T0
    await store.record_results([
        a_result(failing.id, failing.event_id, 1, DeliveryStatus.FAILED, code=500, cycle_started_at=old_cycle),
        a_result(passing.id, passing.event_id, 1, DeliveryStatus.SUCCEEDED, cycle_started_at=old_cycle),
    ], T0 + 3)

    [again] = await store.deliveries_of(failing.event_id)
    assert (again.status, again.attempt_count, again.cycle_attempts, again.next_attempt_at, again.last_status_code
            ) == (DeliveryStatus.PENDING, 1, 0, T0 + 2, 500)
    [due] = await store.claim_due(T0 + 3, 10)
    assert (due.id, due.cycle_attempts, due.cycle_started_at) == (failing.id, 0, T0 + 2)
    [done] = await store.deliveries_of(passing.event_id)
    assert (done.status, done.next_attempt_at) == (DeliveryStatus.SUCCEEDED, None)

    await store.record_results([a_result(failing.id, failing.event_id, 2, DeliveryStatus.FAILED, code=500,
                                         cycle_started_at=due.cycle_started_at)], T0 + 4)
    [ended] = await store.deliveries_of(failing.event_id)
    assert (ended.status, ended.attempt_count, ended.cycle_attempts) == (DeliveryStatus.FAILED, 2, 1)


async def test_listening_for_work_hears_other_processes_or_returns_where_there_are_none(
        store: Store, database_url: str) -> None:
    woken = asyncio.Event()
    listening = asyncio.create_task(store.listen_for_work(woken.set))
    if database_url.startswith("sqlite:///"):
        # one process owns an SQLite file, and publishing wakes its dispatcher in-process
        await asyncio.wait_for(listening, 1)
        return
    try:
        await asyncio.wait_for(woken.wait(), 5)  # once on connecting: what was published meanwhile
        woken.clear()
        publisher = open_test_store(database_url)
        try:
            tenant, _ = await tenant_with_endpoint(publisher)
            await asyncio.sleep(0.2)
            assert not woken.is_set()  # a tenant and an endpoint make nothing due
            await publisher.publish([a_draft(tenant.id)], route)
            await asyncio.wait_for(woken.wait(), 2)
        finally:
            await publisher.close()
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
