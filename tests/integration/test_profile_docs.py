"""docs/profiles.md is true: its `sh` blocks run, section by section, against a real Verihook and receivers."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.support.receivers import Receiver
from tests.support.seed_servers import TlsReceiver, TokenServer
from tests.support.server import ADMIN_KEY, Running, running_verihook, settings_for_tests
from tests.tlsutil import TlsFiles, make_tls

DOC = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"
SECTIONS = ["Credas: process webhook", "Credas: process actor webhook", "Attestr", "vali-Das", "Incode"]


def scripts() -> dict[str, str]:
    found = {}
    for part in re.split(r"^## ", DOC.read_text(), flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        blocks = re.findall(r"^```sh\n(.*?)^```", body, flags=re.M | re.S)
        if blocks:
            found[title.strip()] = "\n".join(blocks)
    return found


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls(tmp_path)


@pytest.fixture
async def served(database_url: str, tls: TlsFiles) -> AsyncIterator[Running]:
    async with running_verihook(settings_for_tests(database_url, ca_file=str(tls.ca_file))) as running:
        yield running


async def run(section: str, served: Running, receiver_url: str, *, token_url: str = "",
              export: tuple[str, ...] = ()) -> tuple[dict[str, str], str]:
    """Run one section's blocks in bash; answers the values of `export` and everything printed."""
    tail = "".join(f'\nprintf "\\n::{name}=%s\\n" "${name}"' for name in export)
    env = {**os.environ, "VERIHOOK": served.base_url, "ADMIN_KEY": ADMIN_KEY, "RECEIVER": receiver_url,
           "TOKEN_URL": token_url}
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", "set -euo pipefail\n" + scripts()[section] + tail, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    values = dict(line[2:].split("=", 1) for line in text.splitlines() if line.startswith("::"))
    return values, text


def test_every_seed_has_a_runnable_section() -> None:
    assert list(scripts()) == SECTIONS
    for script in scripts().values():
        assert "curl" in script


async def test_credas_process(served: Running, receiver: Receiver) -> None:
    values, out = await run(SECTIONS[0], served, receiver.url, export=("PORTAL_UID",))
    [request] = await receiver.wait_for(1)
    assert request.path_qs == "/updates?our-reference=1232323"
    assert request.body == orjson.dumps({"ProcessId": "1e144e85-f45b-4ae3-8915-ae2826ea1e55",
                                         "ClientId": values["PORTAL_UID"], "Status": 2,
                                         "StatusDescription": "The process is complete"})
    assert '"activeChecks":{"aml":"pass"}' in out  # the pulled details


async def test_credas_process_actor(served: Running, receiver: Receiver) -> None:
    values, out = await run(SECTIONS[1], served, receiver.url, export=("CHILD_ID",))
    received = sorted(await receiver.wait_for(4), key=lambda r: int(r.headers["verihook-sequence"]))
    assert [r.path_qs for r in received] == ["/process-actors"] * 4
    assert [r.headers["verihook-sequence"] for r in received] == ["1", "2", "3", "4"]
    assert received[-1].body == orjson.dumps({
        "clientId": values["CHILD_ID"], "processId": "9afe8b16-0b4d-4da3-a7d3-353c7ebece0d",
        "processActorId": 11014, "entityId": "3bd81445-a87d-4aa1-9f1d-72afc60fa414", "smsStatus": 2,
        "smsStatusDescription": "Delivered", "emailStatus": 3, "emailStatusDescription": "Opened"})
    assert '"field":"data.smsStatus"' in out


async def test_attestr(served: Running, receiver: Receiver) -> None:
    _, out = await run(SECTIONS[2], served, receiver.url)
    [request] = await receiver.wait_for(1)
    assert request.path_qs == "/attestr"
    assert request.headers["authorization"] == "Basic my-own-token"
    assert request.json() == {"_id": "async-7f3a", "status": "COMPLETED", "output": {"valid": True}}
    assert '"timeout_s":5,"retry":{"strategy":"none"},"success":"200"}' in out
    assert '"data":{"_id":"async-7f3a"' in out  # the pulled result
    assert '"field":"retry"' in out and "profile attestr fixes" in out  # the seed's promise is a rule


async def test_validas(served: Running, tls: TlsFiles) -> None:
    tokens = await TokenServer(context=tls.server_context()).start()
    receiver = await TlsReceiver(tls.server_context()).start()
    receiver.handler = tokens.guard()
    try:
        _, out = await run(SECTIONS[3], served, receiver.url, token_url=tokens.url)
        received = await receiver.wait_for(5)  # the test call and four status changes
        assert all(r.headers["authorization"] == "Bearer token-1" for r in received)
        statuses = [r.json()["status"] for r in sorted(received[1:], key=lambda r: int(r.headers["verihook-sequence"]))]
        assert statuses == ["on-course", "document-uploaded", "selfie-uploaded", "confirmed"]
        assert '"ok":true,"status_code":200' in out
        assert "url must use https" in out
        assert '"id":"val-0001"' in out
        assert '"client_secret":"***"' in out  # the setting, as created and as read
        assert '"sent":true' in out and '"validation_id":"val-0001"' in out
    finally:
        await receiver.stop()
        await tokens.stop()


async def test_incode(served: Running, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    tokens = await TokenServer().start()
    receiver.handler = tokens.guard()
    try:
        _, out = await run(SECTIONS[4], served, receiver.url, token_url=tokens.url)
        received = sorted(await receiver.wait_for(2), key=lambda r: r.path_qs)
        assert [r.path_qs for r in received] == ["/incode/onboarding", "/incode/watchlist"]
        assert received[0].body == orjson.dumps({"interviewId": "6531f2a1c4d5e6f7a8b9c0d1", "externalId": "crm-42",
                                                 "onboardingStatus": "ONBOARDING_FINISHED"})
        assert received[1].body == orjson.dumps({"interviewId": "6531f2a1c4d5e6f7a8b9c0d1",
                                                 "ref": "1683035472-aBcDeF", "search_id": "512345678"})
        for request in received:
            assert request.headers["authorization"] == "Bearer token-1"
            assert request.headers["x-api-key"] == "static-key"
        assert '"max_attempts":6' in out
        assert len(tokens.requests) == 1
    finally:
        await tokens.stop()
