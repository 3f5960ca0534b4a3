"""The receivers in examples/ work: each gets real webhooks of its seed profile from a real Verihook."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.api import Api
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests
from tests.tlsutil import TlsFiles, make_tls

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def serving(app: web.Application, context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "the receiver did not get there in time"
        await asyncio.sleep(0.05)
    return value


async def tenant(admin: Api, profile: str) -> tuple[Api, dict[str, Any]]:
    made = await admin.tenant(f"{profile} customer", profile=profile)
    return admin.as_key(made["api_key"]), made


async def test_credas_process_receiver(admin: Api) -> None:
    api, made = await tenant(admin, "credas")
    module = example("credas_process_receiver")
    app = module.make_app(admin.base_url, made["api_key"], made["signing_secret"])
    async with serving(app) as url:
        process_id = str(uuid.uuid4())
        (await api.post("/v1/subjects", {"kind": "process", "id": process_id, "data": {"aml": "pass"},
                                         "webhook_url": url + "/updates?our-reference=42"})).ok()
        await api.patch(f"/v1/subjects/{process_id}", {"status": "2"})
        reference, process = await eventually(lambda: app[module.RESULTS].get(process_id))
        assert reference == "42" and process["data"] == {"aml": "pass"}


async def test_credas_actor_receiver(admin: Api) -> None:
    api, made = await tenant(admin, "credas")
    module = example("credas_actor_receiver")
    endpoint = await api.endpoint("http://127.0.0.1:9/not-yet", event_types=["process_actor.updated"])
    app = module.make_app(endpoint["signing_secret"])
    async with serving(app) as url:
        await api.patch(f"/v1/endpoints/{endpoint['id']}", {"url": url + "/process-actors"})
        (await api.post("/v1/subjects", {"kind": "process", "id": "p-1"})).ok()
        for sms in (1, 5):
            await api.publish("process_actor.updated", {
                "clientId": made["id"], "processId": "p-1", "processActorId": 7, "entityId": "e-1",
                "smsStatus": sms, "emailStatus": 2}, subject_id="p-1")
        await eventually(lambda: app[module.BOUNCED_INVITES] == {("e-1", "p-1")})
        await eventually(lambda: app[module.INVITES].get(7, (0,))[0] == 2)
        assert app[module.INVITES][7][1]["smsStatusDescription"] == "Bounced"


async def test_attestr_receiver(admin: Api) -> None:
    api, _ = await tenant(admin, "attestr")
    module = example("attestr_receiver")
    app = module.make_app("the-token")
    async with serving(app) as url:
        await api.endpoint(url + "/attestr", auth={"type": "basic", "token": "the-token"},
                           event_types=["async.completed"])
        wrong = await api.endpoint(url + "/attestr", event_types=["flowx.errored"])  # a generated token
        good = await api.publish("async.completed", {"_id": "a-1"})
        await api.wait_event(good["id"])
        assert app[module.QUEUE].get_nowait() == {"_id": "a-1"}
        bad = await api.publish("flowx.errored", {"_id": "f-1"})
        failed = await api.wait_event(bad["id"], "failed")
        assert failed["deliveries"][0]["endpoint_id"] == wrong["id"]
        assert failed["deliveries"][0]["attempts"][0]["status_code"] == 401


async def test_validas_receiver(database_url: str, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    tls: TlsFiles = make_tls(tmp_path)
    module = example("validas_receiver")
    app = module.make_app("validas", "s3cret")
    async with running_verihook(settings_for_tests(database_url, ca_file=str(tls.ca_file))) as running, \
            serving(app, tls.server_context()) as url:
        api, _ = await tenant(Api(running.base_url, ADMIN_KEY, http), "validas")
        auth = {"type": "oauth2", "token_url": url + "/oauth/token", "client_id": "validas", "client_secret": "s3cret"}
        (await api.post("/validas/v1/webhook/settings", {"url": url + "/validas", "auth": auth})).ok()
        tested = (await api.post("/validas/v1/webhook/test")).ok()  # a sample status change
        assert (tested["ok"], tested["status_code"]) == (True, 200), tested
        assert [status for _, status in app[module.VALIDATIONS].values()] == ["on-course"]
        (await api.post("/v1/subjects", {"kind": "validation", "id": "val-1"})).ok()
        for status in ("on-course", "confirmed"):
            event = (await api.patch("/v1/subjects/val-1", {"status": status})).ok()["event"]
            await api.wait_event(event["id"])
        assert app[module.VALIDATIONS]["val-1"][1] == "confirmed"


async def test_incode_receiver(admin: Api) -> None:
    api, _ = await tenant(admin, "incode")
    module = example("incode_receiver")
    app = module.make_app("incode", "s3cret")
    async with serving(app) as url:
        auth = {"type": "oauth2", "token_url": url + "/oauth/token", "client_id": "incode", "client_secret": "s3cret"}
        for kind, event_type in (("onboarding", "onboarding.status_changed"), ("watchlist", "watchlist.updated")):
            made = await api.endpoint(url + f"/incode/{kind}", auth=auth, event_types=[event_type])
            tested = (await api.post(f"/v1/endpoints/{made['id']}/test")).ok()  # a sample of its type
            assert (tested["ok"], tested["status_code"]) == (True, 200), tested
        app[module.ONBOARDING].clear()
        app[module.WATCHLIST].clear()
        (await api.post("/v1/subjects", {"kind": "interview", "id": "int-1"})).ok()
        onboarding = (await api.patch("/v1/subjects/int-1", {"status": "ONBOARDING_FINISHED"})).ok()["event"]
        watchlist = await api.publish("watchlist.updated", {"interviewId": "int-1", "ref": "r", "search_id": "s"})
        await api.wait_event(onboarding["id"])  # succeeded: 200 with JSON is Incode's success
        await api.wait_event(watchlist["id"])
        assert app[module.ONBOARDING] == {"int-1": "ONBOARDING_FINISHED"}
        assert app[module.WATCHLIST] == [("int-1", "s")]

