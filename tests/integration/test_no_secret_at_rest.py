"""No secret at rest or in the logs: a real `verihook serve` is given every kind of secret (the admin key, the
secret key, tenant API keys made and rotated, signing secrets made and given, Basic tokens and passwords, Bearer
tokens, OAuth2 client secrets and the access tokens they bring), sends with them to real receivers (failures,
retries and a byte-identical Incode retry included) and serves a dashboard login; then the database (the SQLite
file, its WAL and shm, or every row of every PostgreSQL table as text) and the process's whole output are searched
for each secret raw, in hex and in base64 (at every byte alignment, so a secret inside a longer encoded value such
as `Basic base64(user:password)` is found too). Both stores; text logs on one, JSON logs on the other."""

from __future__ import annotations

import asyncio
import base64
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.browserless import DashboardClient
from tests.support.receivers import Answer, Received, Receiver, start_site
from tests.support.server import ServeProcess

ONBOARDED = {"interviewId": "int-1", "externalId": "crm-1", "onboardingStatus": "ONBOARDING_FINISHED"}
FAST = {"strategy": "schedule", "delays_s": [0.3, 0.3, 0.3]}


def encoded_forms(secret: str) -> dict[str, bytes]:
    """The secret as it may sit in a file: raw, hex (both cases), and standard and URL-safe base64 at each of the
    three byte alignments (the characters that depend on the secret's bytes alone)."""
    raw = secret.encode()
    forms = {"raw": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    for offset in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * offset + raw)
            core = text[4 if offset else 0:-4]  # the first group mixes in the padding bytes, the last the next ones
            forms[f"{name}@{offset}"] = core
    return forms


def found_in(haystack: bytes, secrets_set: dict[str, str]) -> list[str]:
    return [f"{name} ({form})" for name, secret in secrets_set.items()
            for form, needle in encoded_forms(secret).items() if needle in haystack]


def test_the_search_finds_a_secret_in_each_form() -> None:
    password = "pass-" + secrets.token_urlsafe(12)
    basic = b"Authorization: Basic " + base64.b64encode(f"user:{password}".encode())
    for haystack in (basic, b"x" + password.encode().hex().encode(), b"..." + password.encode(),
                     base64.urlsafe_b64encode(b"ab" + password.encode())):
        assert found_in(haystack, {"password": password}), haystack


@dataclass(slots=True)
class TokenEndpoint:
    """An OAuth2 token endpoint issuing a fresh random access token to the right client credentials."""

    url: str = ""
    client_id: str = "verihook-client"
    client_secret: str = field(default_factory=lambda: "cs-" + secrets.token_urlsafe(24))
    issued: dict[str, str] = field(default_factory=dict)

    async def token(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        self.issued[f"access token {len(self.issued) + 1}"] = access = "at-" + secrets.token_urlsafe(24)
        return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": 3600})


@pytest.fixture
async def token_endpoint() -> AsyncIterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/token", endpoint.token)
    runner, port = await start_site(app)
    endpoint.url = f"http://127.0.0.1:{port}/token"
    yield endpoint
    await runner.cleanup()


async def test_no_secret_is_stored_or_logged(database_url: str, tmp_path: Path, http: aiohttp.ClientSession,
                                            token_endpoint: TokenEndpoint) -> None:
    set_here = {"admin key": "vh_admin_" + secrets.token_urlsafe(32), "secret key": secrets.token_urlsafe(32),
                "basic token": "bt-" + secrets.token_urlsafe(24), "basic password": "pw-" + secrets.token_urlsafe(24),
                "bearer token": "br-" + secrets.token_urlsafe(24), "failing bearer": "fb-" + secrets.token_urlsafe(24),
                "given signing secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
                "client secret": token_endpoint.client_secret}
    accepted = {"/basic": f"Basic {set_here['basic token']}",
                "/password": "Basic " + base64.b64encode(f"user:{set_here['basic password']}".encode()).decode(),
                "/bearer": f"Bearer {set_here['bearer token']}"}
    tries: dict[str, int] = {}

    def answer(request: Received) -> Answer:
        path = request.path_qs.split("?")[0]
        tries[path] = tries.get(path, 0) + 1
        if path in accepted:
            return Answer(200 if request.headers.get("authorization") == accepted[path] else 401)
        if path in ("/failing", "/incode"):  # fail first, then take it
            return Answer(500 if tries[path] == 1 else (204 if path == "/incode" else 200))
        return Answer(200 if request.headers.get("authorization", "").startswith("Bearer at-") else 401)

    receiver = await Receiver().start()
    receiver.handler = answer
    log_format = "text" if database_url.startswith("sqlite") else "json"
    server = ServeProcess(database_url, tmp_path, env={"VERIHOOK_ADMIN_KEY": set_here["admin key"],
                                                       "VERIHOOK_SECRET_KEY": set_here["secret key"],
                                                       "VERIHOOK_LOG_FORMAT": log_format})
    try:
        await server.start()
        await pg.wait_ready(server.base_url)
        made = await _use_every_secret(Api(server.base_url, set_here["admin key"], http), receiver, set_here,
                                       token_endpoint)
        tenant_id = made.pop("tenant id")
        set_here.update(made)
        stored_while_running = await _stored(database_url)
    finally:
        server.stop()
        await receiver.stop()
    set_here.update(token_endpoint.issued)
    assert "access token 1" in set_here  # an OAuth2 token was fetched and used

    stored = stored_while_running + await _stored(database_url)
    logs = b"".join(path.read_bytes() for path in sorted(tmp_path.glob("*.log")))  # noqa: ASYNC240 (test files)
    assert tenant_id.encode() in stored and b"listening on" in logs  # both hold what they should
    assert log_format == "text" or b'"logger":"verihook.attempt"' in logs.replace(b'": "', b'":"')
    assert found_in(stored, set_here) == []
    assert found_in(logs, set_here) == []


async def _use_every_secret(admin: Api, receiver: Receiver, set_here: dict[str, str],
                            tokens: TokenEndpoint) -> dict[str, str]:
    oauth2 = {"type": "oauth2", "token_url": tokens.url, "client_id": tokens.client_id,
              "client_secret": tokens.client_secret}
    made: dict[str, str] = {}
    tenant = await admin.tenant("acme")
    made.update({"tenant id": tenant["id"], "first api key": tenant["api_key"],
                 "tenant signing secret": tenant["signing_secret"]})
    rotated = (await admin.post(f"/v1/tenants/{tenant['id']}/keys", {"grace_s": 3600})).ok()
    made["rotated api key"] = rotated["api_key"]
    api = admin.as_key(rotated["api_key"])
    child = (await api.post("/v1/tenants", {"name": "child"})).ok()
    made.update({"child api key": child["api_key"], "child signing secret": child["signing_secret"]})

    auths = {"/basic": {"type": "basic", "token": set_here["basic token"]},
             "/password": {"type": "basic", "username": "user", "password": set_here["basic password"]},
             "/bearer": {"type": "bearer", "token": set_here["bearer token"]}, "/oauth2": oauth2,
             "/failing": {"type": "bearer", "token": set_here["failing bearer"]}}
    for path, auth in auths.items():
        endpoint = await api.endpoint(receiver.url + path, auth=auth, retry=FAST)
        made[f"signing secret {path}"] = endpoint["signing_secret"]
        if path == "/basic":
            given = {"secret": set_here["given signing secret"], "grace_s": 3600}
            assert (await api.post(f"/v1/endpoints/{endpoint['id']}/secret/rotate", given)).status == 200
        assert (await api.post(f"/v1/endpoints/{endpoint['id']}/test")).ok()["ok"] in (True, False)
    incode = admin.as_key((await admin.tenant("incode client", profile="incode"))["api_key"])
    made["incode api key"] = incode.key or ""
    incode_endpoint = await incode.endpoint(receiver.url + "/incode", auth=oauth2)
    made["incode signing secret"] = incode_endpoint["signing_secret"]

    events = [await api.publish("order.created", {"n": n}) for n in range(3)]
    incode_event = await incode.publish("onboarding.status_changed", ONBOARDED)
    for event in events:
        await api.wait_event(event["id"], timeout=20)
    await incode.wait_event(incode_event["id"], timeout=20)  # its identical retry comes about 5 s later

    ui = DashboardClient(admin.base_url, admin.session)
    assert (await ui.log_in(rotated["api_key"])).status == 303
    assert (await ui.get("/ui/endpoints")).status == 200
    assert (await admin.as_key("vh_" + secrets.token_urlsafe(32)).get("/v1/endpoints")).status == 401
    await asyncio.sleep(0.5)  # the last outcomes are written
    return made


async def _stored(database_url: str) -> bytes:
    """Everything the database holds: the SQLite files as bytes, or every row of every PostgreSQL table as text."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:  # a read through SQLite too: what a backup of it would hold
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            rows = [repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"')]
        files = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())
        return files + "\n".join(rows).encode()
    tables = [row[0] for row in await pg.query(
        database_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
    rows = [row[0] for table in tables for row in await pg.query(database_url, f'SELECT t::text FROM "{table}" t')]
    return "\n".join(rows).encode()
