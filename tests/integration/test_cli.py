"""The `verihook` command as a real child process: serve as the README starts it, migrate, tenant create, send,
listen."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from standardwebhooks import Webhook

from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import SECRET_KEY, ServeProcess, free_port

POLL_INTERVAL_S = 0.25


@dataclass(slots=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, f"exit {self.code}: {self.err}"
        return json.loads(self.out)


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIHOOK_")}
    return {**env, "VERIHOOK_DATABASE_URL": database_url, "VERIHOOK_SECRET_KEY": SECRET_KEY}


async def verihook_cli(database_url: str, *args: str, timeout: float = 30) -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "verihook.cli", *args, env=_env(database_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


README_ADMIN_KEY = "change-me"
MADE_KEY_FILE = "made a secret key in verihook.db.key"


def readme_serve(workdir: Path) -> ServeProcess:
    """`VERIHOOK_ADMIN_KEY=change-me verihook serve` in `workdir`: no database URL, no secret key."""
    server = ServeProcess("unused", workdir, env={"VERIHOOK_ADMIN_KEY": README_ADMIN_KEY})
    for name in ("VERIHOOK_DATABASE_URL", "VERIHOOK_SECRET_KEY"):
        del server.env[name]
    return server


async def _serve_log(server: ServeProcess) -> str:
    log_file = server.workdir / f"serve-{server.port}.log"
    for _ in range(100):  # the port opens a moment before the line saying so is written
        if "listening on" in log_file.read_text():
            break
        await asyncio.sleep(0.05)
    return log_file.read_text()


async def _delivered(api: Api, receiver: Receiver, secret: str, order: str) -> None:
    event = await api.publish("order.completed", {"order_id": order})
    await api.wait_event(event["id"])
    [request] = [r for r in receiver.requests if r.headers["webhook-id"] == event["id"]]
    assert Webhook(secret).verify(request.body, request.headers)["data"] == {"order_id": order}


async def test_serve_as_the_readme_starts_it_makes_its_files_in_the_working_directory_and_keeps_them(
        tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    first = readme_serve(tmp_path)
    await first.start()
    try:
        log = await _serve_log(first)
        assert (tmp_path / "verihook.db").is_file()
        key_file = tmp_path / "verihook.db.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert MADE_KEY_FILE in log and "admin API key" not in log, log
        admin = Api(first.base_url, README_ADMIN_KEY, http)
        api = await admin.as_new_tenant("acme")
        endpoint = await api.endpoint(receiver.url + "/webhooks", event_types=["order.completed"])
        await _delivered(api, receiver, endpoint["signing_secret"], "o-1")
    finally:
        first.stop()
    key = key_file.read_text()

    again = readme_serve(tmp_path)
    await again.start()
    try:
        log = await _serve_log(again)
        assert "listening on" in log and "secret key" not in log, log
        api = Api(again.base_url, api.key, http)
        secrets = (await api.get(f"/v1/endpoints/{endpoint['id']}/secrets")).ok()
        assert secrets["signing_secret"] == endpoint["signing_secret"]
        await _delivered(api, receiver, endpoint["signing_secret"], "o-2")
    finally:
        again.stop()
    assert key_file.read_text() == key


async def test_migrate_is_idempotent(database_url: str) -> None:
    first = (await verihook_cli(database_url, "migrate")).json()
    assert isinstance(first["applied"], list)  # every migration on a fresh file; none on a prepared database
    assert (await verihook_cli(database_url, "migrate", "--database-url", database_url)).json() == {"applied": []}


async def test_tenant_create_prints_a_key_that_works_on_the_server(admin: Api, database_url: str) -> None:
    parent = (await verihook_cli(database_url, "tenant", "create", "reseller", "--uid", "reseller-1")).json()
    assert parent["name"] == "reseller" and parent["parent_id"] is None and parent["api_key"]
    assert parent["uid"] == "reseller-1"
    made, missing = await asyncio.gather(
        verihook_cli(database_url, "tenant", "create", "portal", "--parent", "reseller-1"),
        verihook_cli(database_url, "tenant", "create", "orphan", "--parent", "ten_nope"))
    child = made.json()
    assert child["parent_id"] == parent["id"]
    assert missing.code != 0 and "ten_nope" in missing.err

    as_parent = admin.as_key(parent["api_key"])
    assert {t["id"] for t in (await as_parent.get("/v1/tenants")).ok()["data"]} == {parent["id"], child["id"]}
    as_child = admin.as_key(child["api_key"])
    assert (await as_child.get(f"/v1/tenants/{child['id']}")).ok()["parent_id"] == parent["id"]
    assert (await as_child.get(f"/v1/tenants/{parent['id']}")).status == 404
    assert (await admin.get(f"/v1/tenants/{child['id']}")).status == 200
    assert len((await admin.get("/v1/tenants")).ok()["data"]) == 2  # not the orphan


async def test_send_publishes_and_the_server_delivers_it(api: Api, receiver: Receiver, database_url: str) -> None:
    endpoint = await api.endpoint(receiver.url, retry={"strategy": "schedule", "delays_s": [0.2]})
    subject = (await api.post("/v1/subjects", {"kind": "process"})).ok()
    tenant = endpoint["tenant_id"]

    sent = (await verihook_cli(database_url, "send", "order.created", "--data", '{"order": "o-1"}',
                               "--tenant", tenant)).json()
    sent_at = time.monotonic()
    assert sent["duplicate"] is False and len(sent["deliveries"]) == 1
    [request] = await receiver.wait_for(1, timeout=5)
    assert time.monotonic() - sent_at < 1.5 + POLL_INTERVAL_S
    assert request.json()["data"] == {"order": "o-1"} and request.headers["webhook-id"] == sent["id"]
    assert (await api.wait_event(sent["id"]))["tenant_id"] == tenant

    by_subject = (await verihook_cli(database_url, "send", "process.updated", "--data", "{}",
                                     "--subject", subject["id"])).json()
    assert by_subject["sequence"] == 1
    _, second = await receiver.wait_for(2, timeout=5)
    assert second.headers["verihook-sequence"] == "1" and second.headers["verihook-subject"] == subject["id"]


async def test_send_refuses_bad_input_and_stores_nothing(api: Api, database_url: str) -> None:
    tenant = (await api.get("/v1/tenants")).ok()["data"][0]["id"]
    cases = [  # (arguments, what stderr names)
        (["order.created", "--data", "{not json", "--tenant", tenant], "--data"),
        (["Order Created", "--data", "{}", "--tenant", tenant], "event type"),
        (["order.created", "--data", "{}", "--subject", "sub_nope"], "sub_nope"),
    ]
    runs = await asyncio.gather(*(verihook_cli(database_url, "send", *args) for args, _ in cases))
    for (args, named), ran in zip(cases, runs, strict=True):
        assert ran.code != 0, args
        assert named in ran.err, (args, ran.err)
    assert (await api.get("/v1/events")).ok()["data"] == []


@asynccontextmanager
async def listening(port: int, secret: str) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "verihook.cli", "listen", "--port", str(port), "--secret", secret,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        assert b"listening on" in line, line
        yield process
    finally:
        process.terminate()
        await process.wait()


async def _read_until(process: asyncio.subprocess.Process, marker: str, timeout: float = 10) -> str:
    assert process.stdout is not None
    seen = ""
    async with asyncio.timeout(timeout):
        while marker not in seen:
            line = await process.stdout.readline()
            assert line, f"the listener exited; it printed:\n{seen}"
            seen += line.decode()
    return seen


async def test_listen_prints_a_webhook_and_checks_its_signature(api: Api) -> None:
    port = free_port()
    endpoint = await api.endpoint(f"http://127.0.0.1:{port}/hooks?portal=north",
                                  retry={"strategy": "schedule", "delays_s": [0.2, 0.2]})
    async with listening(port, endpoint["signing_secret"]) as listener:
        event = await api.publish("order.created", {"order": "o-7"})
        printed = await _read_until(listener, "signature:")
        assert "POST /hooks?portal=north" in printed
        assert f"webhook-id: {event['id']}".lower() in printed.lower()
        assert '"order": "o-7"' in printed
        assert "signature: valid" in printed
        done = await api.wait_event(event["id"])
        assert done["deliveries"][0]["attempts"][-1]["status_code"] == 200

        # a webhook signed with another secret is shown as invalid and refused with 401
        rotated = await api.post(f"/v1/endpoints/{endpoint['id']}/secret/rotate", {"grace_s": 0})
        assert rotated.status == 200
        (await api.patch(f"/v1/endpoints/{endpoint['id']}", {"retry": {"strategy": "none"}})).ok()
        refused = await api.publish("order.created", {"order": "o-8"})
        printed = await _read_until(listener, "signature:")
        assert "signature: INVALID" in printed
        failed = await api.wait_event(refused["id"], "failed")
        assert failed["deliveries"][0]["attempts"][0]["status_code"] == 401
