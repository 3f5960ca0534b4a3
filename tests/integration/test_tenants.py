"""Tenants and API keys: the admin key, hashed tenant keys, the tenant tree and who may see what."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import ServeProcess, settings_for_tests
from verihook.runtime import build_runtime, open_store
from verihook.service.access import ADMIN_KEY_HASH, hash_api_key

FAST = {"strategy": "schedule", "delays_s": [0.2, 0.2]}


async def test_admin_creates_a_tenant_whose_key_works(admin: Api) -> None:
    made = await admin.tenant("acme", profile="standard")
    assert made["name"] == "acme" and made["parent_id"] is None and made["profile"] == "standard"
    assert made["api_key"]
    assert (await admin.get(f"/v1/tenants/{made['id']}")).ok()["name"] == "acme"
    own = admin.as_key(made["api_key"])
    listed = (await own.get("/v1/tenants")).ok()["data"]
    assert [t["id"] for t in listed] == [made["id"]]
    assert "api_key" not in (await own.get(f"/v1/tenants/{made['id']}")).ok()


UNAUTHORIZED = [  # (Authorization header, what is wrong with it)
    (None, "no Authorization header"),
    ("Bearer not-a-key", "an unknown key"),
    ("Bearer ", "an empty key"),
    ("Basic dGVzdC1hZG1pbi1rZXk6", "another scheme"),
]


async def test_a_missing_or_unknown_key_answers_401_problem(verihook: Any, http: aiohttp.ClientSession) -> None:
    for header, why in UNAUTHORIZED:
        headers = {"Authorization": header} if header is not None else {}
        for method, path in (("GET", "/v1/endpoints"), ("POST", "/v1/events"), ("GET", "/v1/tenants"),
                             ("GET", "/v1/events/evt_x"), ("PATCH", "/v1/subjects/sub_x")):
            async with http.request(method, verihook.base_url + path, headers=headers, json={}) as response:
                assert response.status == 401, (why, method, path)
                assert response.headers["content-type"].startswith("application/problem+json")
                body = await response.json(content_type=None)
                assert body["status"] == 401 and body["detail"]


async def test_api_keys_and_secrets_are_not_stored_in_plain_text(admin: Api, receiver: Receiver,
                                                                   database_url: str) -> None:
    made = await admin.tenant("acme")
    api = admin.as_key(made["api_key"])
    endpoint = await api.endpoint(receiver.url, auth={"type": "basic"}, retry=FAST)
    await api.publish("order.created", {"n": 1})
    await receiver.wait_for(1)
    secrets = (made["api_key"], made["signing_secret"], endpoint["signing_secret"], endpoint["auth"]["token"])
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the file, its WAL and shm
        with sqlite3.connect(path) as conn:
            [(key_hash,)] = conn.execute("SELECT key_hash FROM api_keys WHERE tenant_id = ?", (made["id"],)).fetchall()
    else:
        rows = [row[0] for table in ("tenants", "api_keys", "endpoints", "deliveries", "attempts", "meta")
                for row in await pg.query(database_url, f"SELECT t::text FROM {table} t")]
        stored = "\n".join(rows).encode()
        [[key_hash]] = await pg.query(database_url, "SELECT key_hash FROM api_keys WHERE tenant_id = $1", made["id"])
    assert made["id"].encode() in stored  # the dump holds the rows
    for secret in secrets:
        assert secret.encode() not in stored
    assert re.fullmatch(r"[0-9a-f]{64}", key_hash)


async def test_a_reseller_administers_its_children(admin: Api, receiver: Receiver) -> None:
    reseller = await admin.as_new_tenant("reseller")
    child = (await reseller.post("/v1/tenants", {"name": "portal"})).ok()
    reseller_id = (await reseller.get("/v1/tenants")).ok()["data"]
    assert child["parent_id"] in {t["id"] for t in reseller_id}
    grandchild = (await reseller.post("/v1/tenants", {"name": "sub-portal", "parent_id": child["id"]})).ok()
    assert grandchild["parent_id"] == child["id"]

    endpoint = await reseller.endpoint(receiver.url + "/child", tenant_id=child["id"], retry=FAST)
    assert endpoint["tenant_id"] == child["id"]
    subject = (await reseller.post("/v1/subjects", {"kind": "process", "tenant_id": child["id"]})).ok()
    assert subject["tenant_id"] == child["id"]
    event = await reseller.publish("process.updated", {"n": 1}, subject_id=subject["id"])
    assert event["tenant_id"] == child["id"]
    assert [d["endpoint_id"] for d in event["deliveries"]] == [endpoint["id"]]
    [request] = await receiver.wait_for(1)
    assert request.path_qs == "/child"

    # the reseller reads and changes what lives in its child
    await reseller.wait_event(event["id"])
    patched = (await reseller.patch(f"/v1/endpoints/{endpoint['id']}", {"description": "set by reseller"})).ok()
    assert patched["description"] == "set by reseller"
    assert endpoint["id"] in {e["id"] for e in (await reseller.get("/v1/endpoints")).ok()["data"]}
    assert event["id"] in {e["id"] for e in (await reseller.get("/v1/events")).ok()["data"]}
    assert {t["id"] for t in (await reseller.get("/v1/tenants")).ok()["data"]} >= {child["id"], grandchild["id"]}
    assert (await reseller.get(f"/v1/tenants/{grandchild['id']}")).status == 200

    # the child's own key sees its things too, and not its parent
    child_api = reseller.as_key(child["api_key"])
    assert (await child_api.get(f"/v1/endpoints/{endpoint['id']}")).status == 200
    assert (await child_api.get(f"/v1/tenants/{child['parent_id']}")).status == 404
    assert {t["id"] for t in (await child_api.get("/v1/tenants")).ok()["data"]} == {child["id"], grandchild["id"]}


async def test_a_tenant_sees_and_changes_only_its_own_subtree(admin: Api, receiver: Receiver) -> None:
    parent = await admin.tenant("parent")
    parent_api = admin.as_key(parent["api_key"])
    a = (await parent_api.post("/v1/tenants", {"name": "a"})).ok()
    b = (await parent_api.post("/v1/tenants", {"name": "b"})).ok()
    stranger = await admin.tenant("stranger")
    apis = {name: admin.as_key(t["api_key"]) for name, t in
            (("parent", parent), ("a", a), ("b", b), ("stranger", stranger))}

    owned: dict[str, dict[str, str]] = {}
    for name, api in apis.items():
        endpoint = await api.endpoint(receiver.url + "/" + name, retry=FAST)
        subject = (await api.post("/v1/subjects", {"kind": "process"})).ok()
        event = await api.publish("order.created", {"owner": name})
        owned[name] = {"endpoint": endpoint["id"], "subject": subject["id"], "event": event["id"],
                       "tenant": endpoint["tenant_id"]}

    visible = {"parent": {"parent", "a", "b"}, "a": {"a"}, "b": {"b"}, "stranger": {"stranger"}}
    for caller, api in apis.items():
        for owner, ids in owned.items():
            expected = 200 if owner in visible[caller] else 404
            for path in (f"/v1/endpoints/{ids['endpoint']}", f"/v1/endpoints/{ids['endpoint']}/secrets",
                         f"/v1/subjects/{ids['subject']}", f"/v1/subjects/{ids['subject']}/events",
                         f"/v1/events/{ids['event']}", f"/v1/tenants/{ids['tenant']}"):
                reply = await api.get(path)
                assert reply.status == expected, f"{caller} GET {owner}'s {path}: {reply.status} {reply.body}"
                if expected == 404:
                    assert reply.content_type.startswith("application/problem+json")
        listed = {e["tenant_id"] for e in (await api.get("/v1/endpoints")).ok()["data"]}
        assert listed == {owned[o]["tenant"] for o in visible[caller]}
        listed = {e["tenant_id"] for e in (await api.get("/v1/events")).ok()["data"]}
        assert listed == {owned[o]["tenant"] for o in visible[caller]}
        listed = {s["tenant_id"] for s in (await api.get("/v1/subjects")).ok()["data"]}
        assert listed == {owned[o]["tenant"] for o in visible[caller]}

    # nor may a tenant change, delete, test, redeliver or publish into what it cannot see
    sibling, child_api = owned["b"], apis["a"]
    attempts = [
        await child_api.patch(f"/v1/endpoints/{sibling['endpoint']}", {"enabled": False}),
        await child_api.delete(f"/v1/endpoints/{sibling['endpoint']}"),
        await child_api.post(f"/v1/endpoints/{sibling['endpoint']}/secret/rotate"),
        await child_api.post(f"/v1/endpoints/{sibling['endpoint']}/test"),
        await child_api.post(f"/v1/endpoints/{sibling['endpoint']}/recover", {"since": "0"}),
        await child_api.post(f"/v1/events/{sibling['event']}/redeliver"),
        await child_api.patch(f"/v1/subjects/{sibling['subject']}", {"status": "done"}),
        await child_api.post("/v1/events", {"type": "order.created", "data": {}, "tenant_id": sibling["tenant"]}),
        await child_api.post("/v1/events", {"type": "order.created", "data": {}, "subject_id": sibling["subject"]}),
        await child_api.post("/v1/endpoints", {"url": receiver.url, "tenant_id": owned["parent"]["tenant"]}),
        await child_api.post("/v1/subjects", {"kind": "process", "tenant_id": owned["parent"]["tenant"]}),
        await child_api.post("/v1/tenants", {"name": "x", "parent_id": owned["parent"]["tenant"]}),
    ]
    assert [r.status for r in attempts] == [404] * len(attempts), [r.body for r in attempts]
    still = (await apis["b"].get(f"/v1/endpoints/{sibling['endpoint']}")).ok()
    assert still["enabled"] is True
    assert (await apis["b"].get(f"/v1/subjects/{sibling['subject']}")).ok()["status"] is None
    assert len((await apis["parent"].get("/v1/tenants")).ok()["data"]) == 3


async def test_only_the_admin_creates_top_level_tenants(admin: Api, api: Api) -> None:
    child = (await api.post("/v1/tenants", {"name": "child"})).ok()
    own = (await api.get("/v1/tenants")).ok()["data"]
    assert child["parent_id"] is not None and child["parent_id"] in {t["id"] for t in own}
    assert (await admin.post("/v1/endpoints", {"url": "http://127.0.0.1:9/x"})).status == 422  # admin names one


PRINTED_KEY = re.compile(r"admin API key \(shown once, keep it\): (\S+)")


async def _log_once_listening(server: ServeProcess) -> str:
    """The process's log once it says it listens (the port opens a moment before the line is written)."""
    log_file = server.workdir / f"{server.role}-{server.port}.log"
    for _ in range(100):
        if "listening on" in log_file.read_text():
            break
        await asyncio.sleep(0.05)
    return log_file.read_text()


async def test_serve_without_an_admin_key_makes_one_and_prints_it_once(tmp_path: Path,
                                                                       http: aiohttp.ClientSession) -> None:
    database_url = f"sqlite:///{tmp_path / 'made-key.db'}"
    logs: list[str] = []
    for _ in range(2):  # the second start is a restart on the same database
        server = ServeProcess(database_url, tmp_path)
        del server.env["VERIHOOK_ADMIN_KEY"]
        await server.start()
        try:
            logs.append(await _log_once_listening(server))
            keys = PRINTED_KEY.findall(logs[0])
            assert len(keys) == 1, logs[0]
            admin = Api(server.base_url, keys[0], http)
            made = await admin.tenant(f"made-{len(logs)}")
            assert (await admin.get(f"/v1/tenants/{made['id']}")).status == 200
            assert (await admin.as_key("test-admin-key").get("/v1/tenants")).status == 401
        finally:
            server.stop()
    assert "listening on" in logs[1]
    assert not PRINTED_KEY.search(logs[1]), logs[1]


async def test_racing_stores_keep_the_first_meta_value(database_url: str) -> None:
    stores = [open_store(settings_for_tests(database_url)) for _ in range(4)]
    try:
        await stores[0].migrate()
        won = await asyncio.gather(*(s.put_meta_if_absent(ADMIN_KEY_HASH, f"hash-{i}") for i, s in enumerate(stores)))
        assert len(set(won)) == 1 and won[0] in {f"hash-{i}" for i in range(4)}, won
        assert await stores[0].put_meta_if_absent(ADMIN_KEY_HASH, "late") == won[0]
        assert await stores[3].get_meta(ADMIN_KEY_HASH) == won[0]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_runtimes_racing_to_make_the_admin_key_agree_on_one(database_url: str) -> None:
    """Both runtimes found no key when they were built; only the one that stored its key first may print it."""
    runtimes = [await build_runtime(settings_for_tests(database_url, admin_key=None)) for _ in range(3)]
    try:
        assert all(r.service.ctx.admin_key_hash is None for r in runtimes)
        made = await asyncio.gather(*(r.ensure_admin_key() for r in runtimes))
        [key] = [k for k in made if k is not None]
        assert {r.service.ctx.admin_key_hash for r in runtimes} == {hash_api_key(key)}
        assert await runtimes[0].store.get_meta(ADMIN_KEY_HASH) == hash_api_key(key)
    finally:
        for runtime in runtimes:
            await runtime.close()


async def test_api_processes_starting_together_print_one_admin_key_that_works_on_each(
        pg_databases: pg.TestDatabases, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """PostgreSQL, no VERIHOOK_ADMIN_KEY: of three `api` processes starting at once, one prints a key (and the
    `worker` none); every API process takes that key."""
    url = pg_databases.create()
    servers = [ServeProcess(url, tmp_path, role=role) for role in ("api", "api", "api", "worker")]
    for server in servers:
        del server.env["VERIHOOK_ADMIN_KEY"]
    try:
        await asyncio.gather(*(server.start(timeout=60) for server in servers))
        logs = [await _log_once_listening(server) for server in servers]
        keys = [key for log in logs for key in PRINTED_KEY.findall(log)]
        assert len(keys) == 1, "\n".join(logs)
        assert not PRINTED_KEY.search(logs[-1]), logs[-1]  # the worker's
        for server in servers[:3]:
            admin = Api(server.base_url, keys[0], http)
            assert (await admin.get("/v1/tenants")).status == 200, server.port
            assert (await admin.as_key("vh_admin_another").get("/v1/tenants")).status == 401
    finally:
        for server in servers:
            server.stop()
        pg_databases.drop(url)
