"""API keys rotated (a grace period for the older ones), revoked at once, listed without the key; tenants suspended
and resumed by an ancestor or the admin: 403 "Tenant suspended" on every route for them and their descendants,
publishing for them refused, pending deliveries still sent. Both stores."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.integration.test_cli import verihook_cli
from tests.support import postgres as pg
from tests.support.api import Api, Reply
from tests.support.receivers import Answer, Receiver
from tests.support.server import running_verihook, settings_for_tests
from verihook.errors import Suspended, Unauthorized
from verihook.runtime import build_runtime
from verihook.service.access import hash_api_key
from verihook.service.context import CALLER_TTL_S
from verihook.store.postgres_conn import migration_scripts as postgres_scripts
from verihook.store.sqlite import migration_scripts as sqlite_scripts

FAST = {"strategy": "schedule", "delays_s": [0.3, 0.3]}
# a route of every kind a suspended tenant's key is refused on (method, path; {own}: its own tenant id)
ROUTES = [("GET", "/v1/endpoints"), ("GET", "/v1/events"), ("POST", "/v1/events"), ("GET", "/v1/subjects"),
          ("GET", "/v1/tenants"), ("GET", "/v1/tenants/{own}"), ("POST", "/v1/tenants/{own}/keys"),
          ("GET", "/v1/tenants/{own}/keys"), ("GET", "/v1/event-types"), ("GET", "/validas/v1/webhook/settings")]


def assert_suspended(reply: Reply, what: str) -> None:
    assert reply.status == 403, (what, reply.status, reply.body)
    assert reply.content_type.startswith("application/problem+json"), what
    assert reply.body["title"] == "Tenant suspended" and "suspended" in reply.body["detail"], (what, reply.body)


async def test_a_rotated_key_keeps_the_old_one_for_its_grace_period(admin: Api) -> None:
    made = await admin.tenant("acme")
    old = admin.as_key(made["api_key"])
    [first] = (await old.get(f"/v1/tenants/{made['id']}/keys")).ok()["data"]
    assert first["expires_at"] is None and made["api_key"].startswith(first["prefix"]) and len(first["prefix"]) == 10

    rotated = await old.post(f"/v1/tenants/{made['id']}/keys", {"grace_s": 1})
    assert rotated.status == 201, rotated.body
    new = admin.as_key(rotated.body["api_key"])
    assert rotated.body["api_key"] != made["api_key"] and rotated.body["expires_at"] is None
    assert (await new.get("/v1/endpoints")).status == 200 and (await old.get("/v1/endpoints")).status == 200
    listed = (await new.get(f"/v1/tenants/{made['id']}/keys")).ok()["data"]
    assert [k["id"] for k in listed] == [first["id"], rotated.body["id"]]
    assert listed[0]["expires_at"] is not None and listed[1]["expires_at"] is None
    assert all("api_key" not in k and made["api_key"] not in str(k) for k in listed)

    await asyncio.sleep(1.2)
    assert (await old.get("/v1/endpoints")).status == 401  # its grace is over
    assert (await new.get("/v1/endpoints")).status == 200
    assert [k["id"] for k in (await new.get(f"/v1/tenants/{made['id']}/keys")).ok()["data"]] == [rotated.body["id"]]


async def test_the_default_grace_is_a_day_and_zero_ends_the_old_keys_at_once(admin: Api) -> None:
    made = await admin.tenant("acme")
    old = admin.as_key(made["api_key"])
    before = time.time()
    second = (await admin.post(f"/v1/tenants/{made['id']}/keys")).ok()  # no body: the default grace
    [kept, _] = (await admin.get(f"/v1/tenants/{made['id']}/keys")).ok()["data"]
    expires = time.mktime(time.strptime(kept["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert before + 86400 - 5 <= expires <= time.time() + 86400 + 5
    assert (await old.get("/v1/endpoints")).status == 200

    third = (await admin.post(f"/v1/tenants/{made['id']}/keys", {"grace_s": 0})).ok()
    for key in (made["api_key"], second["api_key"]):
        assert (await admin.as_key(key).get("/v1/endpoints")).status == 401
    assert (await admin.as_key(third["api_key"]).get("/v1/endpoints")).status == 200
    assert [k["id"] for k in (await admin.get(f"/v1/tenants/{made['id']}/keys")).ok()["data"]] == [third["id"]]


async def test_a_revoked_key_answers_401_at_once(admin: Api) -> None:
    made = await admin.tenant("acme")
    api = admin.as_key(made["api_key"])
    spare = (await api.post(f"/v1/tenants/{made['id']}/keys", {"grace_s": 3600})).ok()
    assert (await api.get("/v1/endpoints")).status == 200  # the key is now a cached caller
    [first, _] = (await api.get(f"/v1/tenants/{made['id']}/keys")).ok()["data"]
    revoked = await admin.as_key(spare["api_key"]).delete(f"/v1/tenants/{made['id']}/keys/{first['id']}")
    assert revoked.status == 204, revoked.body
    reply = await api.get("/v1/endpoints")
    assert reply.status == 401 and reply.content_type.startswith("application/problem+json")
    again = await admin.delete(f"/v1/tenants/{made['id']}/keys/{first['id']}")
    assert again.status == 404 and again.body["field"] == "key_id"


async def test_who_may_manage_keys_and_what_is_refused(admin: Api) -> None:
    parent = await admin.tenant("parent")
    parent_api = admin.as_key(parent["api_key"])
    child = (await parent_api.post("/v1/tenants", {"name": "child"})).ok()
    child_api = admin.as_key(child["api_key"])
    stranger = admin.as_key((await admin.tenant("stranger"))["api_key"])
    [child_key] = (await child_api.get(f"/v1/tenants/{child['id']}/keys")).ok()["data"]
    [parent_key] = (await parent_api.get(f"/v1/tenants/{parent['id']}/keys")).ok()["data"]

    assert (await parent_api.post(f"/v1/tenants/{child['id']}/keys", {"grace_s": 60})).status == 201
    for who, tenant, key in ((child_api, parent, parent_key), (stranger, child, child_key)):
        for method in ("GET", "POST"):
            reply = await who.call(method, f"/v1/tenants/{tenant['id']}/keys")
            assert reply.status == 404, (method, tenant, reply.body)
        assert (await who.delete(f"/v1/tenants/{tenant['id']}/keys/{key['id']}")).status == 404
    # a key id of another tenant, under a tenant the caller administers: not found
    assert (await parent_api.delete(f"/v1/tenants/{child['id']}/keys/{parent_key['id']}")).status == 404
    assert (await parent_api.get("/v1/endpoints")).status == 200
    for body, field in (({"grace_s": -1}, "grace_s"), ({"grace_s": 31 * 86400}, "grace_s"),
                        ({"grace_s": "60"}, "grace_s"), ({"grace": 60}, "grace")):
        reply = await parent_api.post(f"/v1/tenants/{child['id']}/keys", body)
        assert reply.status == 422 and field in reply.body.get("field", ""), (body, reply.body)
    assert len((await admin.get(f"/v1/tenants/{child['id']}/keys")).ok()["data"]) == 2  # nothing more was made


async def test_a_suspended_tenant_and_its_descendants_are_refused_everywhere(admin: Api) -> None:
    parent = await admin.tenant("parent")
    parent_api = admin.as_key(parent["api_key"])
    child = (await parent_api.post("/v1/tenants", {"name": "child"})).ok()
    child_api = admin.as_key(child["api_key"])
    sibling = await admin.tenant("sibling")
    for method, path in ROUTES:  # the keys are cached callers now: suspension must still hold at once
        assert (await child_api.call(method, path.format(own=child["id"]), {})).status != 403

    own = await parent_api.post(f"/v1/tenants/{parent['id']}/suspend")
    assert own.status == 403 and own.body["title"] == "Forbidden"  # not by its own key
    suspended = (await admin.post(f"/v1/tenants/{parent['id']}/suspend")).ok()
    assert suspended["suspended"] is True and suspended["suspended_at"]
    assert (await admin.get(f"/v1/tenants/{parent['id']}")).ok()["suspended"] is True
    for tenant, api in ((parent, parent_api), (child, child_api)):
        for method, path in ROUTES:
            assert_suspended(await api.call(method, path.format(own=tenant["id"]), {}), f"{method} {path}")
    assert_suspended(await parent_api.post(f"/v1/tenants/{parent['id']}/resume"), "resume by itself")
    assert (await admin.as_key(sibling["api_key"]).get("/v1/endpoints")).status == 200
    # publishing for it is refused to the admin too
    assert_suspended(await admin.post("/v1/events", {"type": "order.created", "data": {}, "tenant_id": child["id"]}),
                     "the admin publishing for a suspended tenant's child")

    resumed = (await admin.post(f"/v1/tenants/{parent['id']}/resume")).ok()
    assert resumed["suspended"] is False and resumed["suspended_at"] is None
    for api in (parent_api, child_api):
        assert (await api.get("/v1/endpoints")).status == 200
        assert (await api.post("/v1/events", {"type": "order.created", "data": {}})).status == 202


async def test_an_ancestor_suspends_a_child_whose_pending_deliveries_still_go(admin: Api, receiver: Receiver) -> None:
    parent_api = admin.as_key((await admin.tenant("parent"))["api_key"])
    child = (await parent_api.post("/v1/tenants", {"name": "child"})).ok()
    child_api = admin.as_key(child["api_key"])
    receiver.script(Answer(503), Answer(200))
    await child_api.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [1.0]})
    event = await child_api.publish("order.created", {"n": 1})
    await receiver.wait_for(1)
    assert (await parent_api.post(f"/v1/tenants/{child['id']}/suspend")).ok()["suspended"] is True
    assert_suspended(await child_api.post("/v1/events", {"type": "order.created", "data": {}}),
                     "publishing by a suspended tenant")
    assert_suspended(await parent_api.post("/v1/events", {"type": "order.created", "data": {},
                                                           "tenant_id": child["id"]}), "its parent publishing for it")
    await receiver.wait_for(2)  # the retry of what was accepted before still goes out
    delivered = await parent_api.wait_event(event["id"], "succeeded")
    assert delivered["delivery_status"] == "succeeded"
    assert (await parent_api.get("/v1/events")).ok()["data"][0]["id"] == event["id"]  # the parent still sees it
    assert (await parent_api.post(f"/v1/tenants/{child['id']}/resume")).ok()["suspended"] is False
    assert (await child_api.post("/v1/events", {"type": "order.created", "data": {}})).status == 202


async def test_revocation_and_suspension_reach_another_api_process_within_the_cache_bound(
        admin: Api, database_url: str) -> None:
    made = await admin.tenant("acme")
    spare = (await admin.post(f"/v1/tenants/{made['id']}/keys", {"grace_s": 3600})).ok()
    async with running_verihook(settings_for_tests(database_url), run_dispatcher=False) as other_process:
        elsewhere = Api(other_process.base_url, made["api_key"], admin.session)
        assert (await elsewhere.get("/v1/endpoints")).status == 200  # cached there now
        [first, _] = (await admin.get(f"/v1/tenants/{made['id']}/keys")).ok()["data"]
        assert (await admin.delete(f"/v1/tenants/{made['id']}/keys/{first['id']}")).status == 204
        assert (await admin.as_key(made["api_key"]).get("/v1/endpoints")).status == 401  # here: at once
        assert await _answers_within(elsewhere, 401, CALLER_TTL_S + 1.0)

        spare_elsewhere = elsewhere.as_key(spare["api_key"])
        assert (await spare_elsewhere.get("/v1/endpoints")).status == 200
        assert (await admin.post(f"/v1/tenants/{made['id']}/suspend")).status == 200
        assert await _answers_within(spare_elsewhere, 403, CALLER_TTL_S + 1.0)


async def _answers_within(api: Api, status: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (await api.get("/v1/endpoints")).status == status:
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_keys_made_before_migration_0006_still_open(engine: str, tmp_path: Path, request: Any) -> None:
    key = "vh_made-before-0006"
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        with sqlite3.connect(tmp_path / "old.db") as conn:
            conn.execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at REAL)")
            for version, script in sqlite_scripts():
                if version < "0006":
                    conn.executescript(script)
                    conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
            conn.execute("INSERT INTO tenants (id, name, profile, api_key_hash, signing_secret, created_at)"
                         " VALUES ('ten_old', 'old', 'standard', ?, 'sealed:x', 1)", (hash_api_key(key),))
    else:
        databases: pg.TestDatabases = request.getfixturevalue("pg_databases")
        url = databases.empty()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at double precision"
                               " NOT NULL)")
            for version, script in postgres_scripts():
                if version < "0006":
                    await conn.execute(script)
                    await conn.execute("INSERT INTO schema_migrations VALUES ($1, 0)", version)
            await conn.execute("INSERT INTO tenants (id, name, profile, api_key_hash, signing_secret, created_at)"
                               " VALUES ('ten_old', 'old', 'standard', $1, 'sealed:x', 1)", hash_api_key(key))
        finally:
            await conn.close()
    runtime = await build_runtime(settings_for_tests(url))
    try:
        caller = await runtime.service.authenticate(key)
        assert caller.tenant is not None and caller.tenant.id == "ten_old" and caller.tenant.suspended_at is None
        [listed] = await runtime.service.keys.list(caller, "ten_old")
        assert listed.prefix is None and listed.expires_at is None
        rotated = await runtime.service.keys.rotate(caller, "ten_old", 0)
        assert (await runtime.service.authenticate(rotated.api_key)).tenant == caller.tenant
    finally:
        await runtime.close()
        if engine == "postgres":
            request.getfixturevalue("pg_databases").drop(url)


async def test_the_cli_rotates_lists_revokes_suspends_and_resumes(database_url: str) -> None:
    made = (await verihook_cli(database_url, "tenant", "create", "acme")).json()
    rotated = (await verihook_cli(database_url, "tenant", "rotate-key", made["id"], "--grace-s", "0")).json()
    assert rotated["tenant_id"] == made["id"] and rotated["api_key"].startswith(rotated["prefix"])
    listed = (await verihook_cli(database_url, "tenant", "keys", made["id"])).json()["data"]
    assert [k["id"] for k in listed] == [rotated["id"]] and rotated["api_key"] not in str(listed)
    spare = (await verihook_cli(database_url, "tenant", "rotate-key", made["id"])).json()  # a day's grace
    assert (await verihook_cli(database_url, "tenant", "revoke-key", made["id"], rotated["id"])).json() == {
        "revoked": rotated["id"]}
    again = await verihook_cli(database_url, "tenant", "revoke-key", made["id"], rotated["id"])
    assert again.code == 2 and "not found" in again.err
    assert (await verihook_cli(database_url, "tenant", "suspend", made["id"])).json() == {
        "id": made["id"], "suspended": True}

    runtime = await build_runtime(settings_for_tests(database_url))
    try:
        for key in (made["api_key"], rotated["api_key"]):
            with pytest.raises(Unauthorized):
                await runtime.service.authenticate(key)
        with pytest.raises(Suspended):
            await runtime.service.authenticate(spare["api_key"])
        assert (await verihook_cli(database_url, "tenant", "resume", made["id"])).json()["suspended"] is False
        runtime.service.ctx.tenant_tree_changed()  # another process resumed it: this one's checks are not reused
        assert (await runtime.service.authenticate(spare["api_key"])).tenant is not None
    finally:
        await runtime.close()
