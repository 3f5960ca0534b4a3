"""Several secret keys: secrets set under key A; Verihook restarted with "B,A" (B seals, both open); `verihook
reseal` seals everything again under B; restarted with B alone, every secret still opens and deliveries still sign
and authenticate against real receivers (a retry waiting across the restarts repeats its first request byte for
byte). Both stores."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from standardwebhooks import Webhook

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from tests.support.seed_servers import TokenServer
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests

KEY_A, KEY_B = "secret-key-A", "secret-key-B"
ONBOARDED = {"interviewId": "int-1", "externalId": "crm-1", "onboardingStatus": "ONBOARDING_FINISHED"}
SEALED_COLUMNS = ("SELECT signing_secret FROM tenants", "SELECT auth FROM endpoints",
                  "SELECT signing_secrets FROM endpoints", "SELECT first_request FROM deliveries")


@pytest.fixture
async def tokens() -> AsyncIterator[TokenServer]:
    server = await TokenServer(expires_in=3600).start()
    yield server
    await server.stop()


async def raw_values(database_url: str, sql: str) -> list[Any]:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return [row[0] for row in conn.execute(sql).fetchall()]
    return [row[0] for row in await pg.query(database_url, sql)]


async def sealed_count(database_url: str) -> int:
    values = [value for sql in SEALED_COLUMNS for value in await raw_values(database_url, sql)]
    return sum(str(value).count("sealed:") for value in values)


async def run_reseal(database_url: str, secret_key: str) -> tuple[int | None, str, str]:
    """`verihook reseal` as a child process: (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIHOOK_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "verihook.cli", "reseal", env={**env, "VERIHOOK_DATABASE_URL": database_url,
                                                             "VERIHOOK_SECRET_KEY": secret_key},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def verihook_reseal(database_url: str, secret_key: str) -> dict[str, Any]:
    code, out, err = await run_reseal(database_url, secret_key)
    assert code == 0, err
    answer: dict[str, Any] = json.loads(out)
    return answer


def signed_by(request: Received, secret: str) -> bool:
    try:
        Webhook(secret).verify(request.body, request.headers)
    except Exception:
        return False
    return True


async def test_old_keys_can_be_dropped_after_reseal(database_url: str, http: aiohttp.ClientSession,
                                                    tokens: TokenServer, receiver: Receiver) -> None:
    incode_receiver = await Receiver([Answer(500), Answer(204)]).start()
    try:
        secrets = await _set_secrets_under_key_a(database_url, http, tokens, receiver, incode_receiver)
        [first_incode] = incode_receiver.requests

        # no dispatcher: the Incode retry waits for the last restart
        async with running_verihook(settings_for_tests(database_url, secret_key=f"{KEY_B},{KEY_A}"),
                                    run_dispatcher=False) as running:
            admin = Api(running.base_url, ADMIN_KEY, http)
            assert await _secrets_shown(admin, secrets) == secrets["shown"]  # A's seals open with B,A
        stored = await sealed_count(database_url)
        assert stored >= 9
        assert await verihook_reseal(database_url, f"{KEY_B},{KEY_A}") == {"resealed": stored}

        async with running_verihook(settings_for_tests(database_url, secret_key=KEY_B)) as running:
            admin = Api(running.base_url, ADMIN_KEY, http)
            assert await _secrets_shown(admin, secrets) == secrets["shown"]
            api = admin.as_key(secrets["api_key"])
            event = await api.publish("order.created", {"after": "reseal"})
            await api.wait_event(event["id"])
            [retry] = (await incode_receiver.wait_for(2, timeout=15))[1:]
        after = [r for r in receiver.requests if r.headers["webhook-id"] == event["id"]]
        assert sorted(r.path_qs for r in after) == ["/basic", "/bearer", "/oauth2", "/password"]
        for request in after:
            endpoint = secrets["endpoints"][request.path_qs]
            assert request.headers["authorization"] == endpoint["authorization"] or (
                request.path_qs == "/oauth2" and tokens.valid(request.headers["authorization"]))
            assert all(signed_by(request, secret) for secret in endpoint["signing_secrets"]), request.path_qs
        assert (retry.headers, retry.body) == (first_incode.headers, first_incode.body)  # opened under B
        assert tokens.valid(retry.headers["authorization"])
    finally:
        await incode_receiver.stop()


async def _set_secrets_under_key_a(database_url: str, http: aiohttp.ClientSession, tokens: TokenServer,
                                   receiver: Receiver, incode_receiver: Receiver) -> dict[str, Any]:
    """Every kind of sealed secret, set while A is the only key; answers what the API shows of them."""
    oauth2 = {"type": "oauth2", "token_url": tokens.url, "client_id": "verihook", "client_secret": "client-s3cret"}
    async with running_verihook(settings_for_tests(database_url, secret_key=KEY_A)) as running:
        admin = Api(running.base_url, ADMIN_KEY, http)
        tenant = await admin.tenant("acme")
        api = admin.as_key(tenant["api_key"])
        auths = {"/basic": {"type": "basic", "token": "basic-t0ken"},
                 "/password": {"type": "basic", "username": "user", "password": "pass-w0rd"},
                 "/bearer": {"type": "bearer", "token": "bearer-t0ken"}, "/oauth2": oauth2}
        authorizations = {"/basic": "Basic basic-t0ken", "/password": "Basic dXNlcjpwYXNzLXcwcmQ=",
                          "/bearer": "Bearer bearer-t0ken", "/oauth2": None}
        endpoints: dict[str, dict[str, Any]] = {}
        for path, auth in auths.items():
            made = await api.endpoint(receiver.url + path, auth=auth)
            endpoints[path] = {"id": made["id"], "authorization": authorizations[path],
                               "signing_secrets": [made["signing_secret"]]}
        rotated = (await api.post(f"/v1/endpoints/{endpoints['/basic']['id']}/secret/rotate")).ok()
        endpoints["/basic"]["signing_secrets"].append(rotated["signing_secret"])  # both sign during the rotation
        incode = admin.as_key((await admin.tenant("incode client", profile="incode"))["api_key"])
        incode_endpoint = await incode.endpoint(incode_receiver.url + "/incode", auth=oauth2)
        await incode.publish("onboarding.status_changed", ONBOARDED)
        await incode_receiver.wait_for(1)
        await asyncio.sleep(0.3)  # the attempt's outcome, with the sealed first request, is written
        found = {"api_key": tenant["api_key"], "tenant_id": tenant["id"], "endpoints": endpoints,
                 "incode_endpoint": incode_endpoint["id"]}
        found["shown"] = await _secrets_shown(admin, found)
    return found


async def _secrets_shown(admin: Api, secrets: dict[str, Any]) -> list[Any]:
    shown: list[Any] = [(await admin.get(f"/v1/tenants/{secrets['tenant_id']}/secrets")).ok()]
    for endpoint_id in [e["id"] for e in secrets["endpoints"].values()] + [secrets["incode_endpoint"]]:
        shown.append((await admin.get(f"/v1/endpoints/{endpoint_id}/secrets")).ok())
    return shown


async def test_reseal_without_the_key_a_value_was_sealed_with_changes_nothing(database_url: str,
                                                                            http: aiohttp.ClientSession) -> None:
    async with running_verihook(settings_for_tests(database_url, secret_key=KEY_A), run_dispatcher=False) as running:
        tenant = await Api(running.base_url, ADMIN_KEY, http).tenant("acme")
    before = await raw_values(database_url, "SELECT signing_secret FROM tenants")
    code, out, err = await run_reseal(database_url, KEY_B)
    assert code == 2 and out == "", out
    assert "does not open" in err and tenant["id"] in err
    assert await raw_values(database_url, "SELECT signing_secret FROM tenants") == before
    assert await verihook_reseal(database_url, f"{KEY_B},{KEY_A}") == {"resealed": 1}
    assert await raw_values(database_url, "SELECT signing_secret FROM tenants") != before
