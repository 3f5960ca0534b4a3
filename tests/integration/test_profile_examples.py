"""The receivers in examples/, built on verihook.receiver, each get real webhooks of their seed profile from a
real Verihook: signatures checked, OAuth2 tokens issued by the receiver itself, repeats dropped by webhook-id."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp

from tests.support.api import Api
from tests.support.apps import serving_asgi, serving_wsgi
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests
from tests.tlsutil import TlsFiles, make_tls
from verihook.delivery.signing import generate_secret, signing_headers

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "the receiver did not get there in time"
        await asyncio.sleep(0.05)
    return value


async def tenant(admin: Api, profile: str) -> tuple[Api, dict[str, Any]]:
    made = await admin.tenant(f"{profile} customer", profile=profile)
    return admin.as_key(made["api_key"]), made


async def redeliver(api: Api, event_id: str) -> None:
    (await api.post(f"/v1/events/{event_id}/redeliver")).ok()
    await api.wait_event(event_id)


async def forged_status(http: aiohttp.ClientSession, url: str, body: bytes = b'{"x": 1}') -> int:
    """What the receiver answers a request signed with a secret it does not know."""
    headers = dict(signing_headers([generate_secret()], "evt_forged", int(time.time()), body))
    async with http.post(url, data=body, headers={**headers, "Content-Type": "application/json"}) as answer:
        return answer.status


async def test_credas_process_receiver(admin: Api, http: aiohttp.ClientSession) -> None:
    api, made = await tenant(admin, "credas")
    module = example("credas_process_receiver")
    app = module.make_app(admin.base_url, made["api_key"], made["signing_secret"])
    async with serving_asgi(app) as url:
        process_id = str(uuid.uuid4())
        (await api.post("/v1/subjects", {"kind": "process", "id": process_id, "data": {"aml": "pass"},
                                         "webhook_url": url + "/updates?our-reference=42"})).ok()
        event = (await api.patch(f"/v1/subjects/{process_id}", {"status": "2"})).ok()["event"]
        reference, process = await eventually(lambda: app.state.results.get(process_id))
        assert reference == "42" and process["data"] == {"aml": "pass"}
        seen = app.state.duplicates  # a retry of a first attempt cut by its timeout under load is one already
        await redeliver(api, event["id"])
        await eventually(lambda: app.state.duplicates > seen)  # acknowledged, not pulled again
        assert await forged_status(http, url + "/updates") == 401


async def test_credas_actor_receiver_on_wsgi(admin: Api, http: aiohttp.ClientSession) -> None:
    api, made = await tenant(admin, "credas")
    module = example("credas_actor_receiver")
    endpoint = await api.endpoint("http://127.0.0.1:9/not-yet", event_types=["process_actor.updated"])
    app, invites = module.make_app(endpoint["signing_secret"])
    with serving_wsgi(app) as url:
        await api.patch(f"/v1/endpoints/{endpoint['id']}", {"url": url + "/process-actors"})
        (await api.post("/v1/subjects", {"kind": "process", "id": "p-1"})).ok()
        events = [await api.publish("process_actor.updated", {
            "clientId": made["id"], "processId": "p-1", "processActorId": 7, "entityId": "e-1",
            "smsStatus": sms, "emailStatus": 2}, subject_id="p-1") for sms in (1, 5)]
        await eventually(lambda: invites.bounced == {("e-1", "p-1")})
        await eventually(lambda: invites.newest.get(7, (0,))[0] == 2)
        assert invites.newest[7][1]["smsStatusDescription"] == "Bounced"
        seen = invites.duplicates  # a retry of a first attempt cut by its timeout under load is one already
        await redeliver(api, events[0]["id"])
        await eventually(lambda: invites.duplicates > seen)
        assert invites.newest[7][0] == 2  # the older update, sent again, changed nothing
        assert await forged_status(http, url + "/process-actors") == 401


async def test_attestr_receiver(admin: Api) -> None:
    api, _ = await tenant(admin, "attestr")
    module = example("attestr_receiver")
    app = module.make_app("the-token")
    async with serving_asgi(app) as url:
        await api.endpoint(url + "/attestr", auth={"type": "basic", "token": "the-token"},
                           event_types=["async.completed"])
        wrong = await api.endpoint(url + "/attestr", event_types=["flowx.errored"])  # a generated token
        good = await api.publish("async.completed", {"_id": "a-1"})
        await api.wait_event(good["id"])
        assert await asyncio.wait_for(app.state.queue.get(), 5) == {"_id": "a-1"}
        bad = await api.publish("flowx.errored", {"_id": "f-1"})
        failed = await api.wait_event(bad["id"], "failed")
        assert failed["deliveries"][0]["endpoint_id"] == wrong["id"]
        assert failed["deliveries"][0]["attempts"][0]["status_code"] == 401
        assert app.state.queue.empty()


async def test_validas_receiver(database_url: str, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    tls: TlsFiles = make_tls(tmp_path)
    module = example("validas_receiver")
    app = module.make_app("validas", "s3cret")
    async with running_verihook(settings_for_tests(database_url, ca_file=str(tls.ca_file))) as running, \
            serving_asgi(app, tls) as url:
        api, _ = await tenant(Api(running.base_url, ADMIN_KEY, http), "validas")
        auth = {"type": "oauth2", "token_url": url + "/oauth/token", "client_id": "validas", "client_secret": "s3cret"}
        (await api.post("/validas/v1/webhook/settings", {"url": url + "/validas", "auth": auth})).ok()
        tested = (await api.post("/validas/v1/webhook/test")).ok()  # a sample status change
        assert (tested["ok"], tested["status_code"]) == (True, 200), tested
        assert [status for _, status in app.state.validations.values()] == ["on-course"]
        (await api.post("/v1/subjects", {"kind": "validation", "id": "val-1"})).ok()
        for status in ("on-course", "confirmed"):
            event = (await api.patch("/v1/subjects/val-1", {"status": status})).ok()["event"]
            await api.wait_event(event["id"])
        assert app.state.validations["val-1"][1] == "confirmed"
        async with http.post(url + "/validas", json={"validation_id": "val-1", "status": "deleted", "time": "z"},
                             ssl=tls.client_context()) as answer:
            assert answer.status == 401 and "Bearer" in answer.headers["WWW-Authenticate"]
        assert app.state.validations["val-1"][1] == "confirmed"


async def test_incode_receiver(admin: Api) -> None:
    api, _ = await tenant(admin, "incode")
    module = example("incode_receiver")
    app = module.make_app("incode", "s3cret")
    async with serving_asgi(app) as url:
        auth = {"type": "oauth2", "token_url": url + "/oauth/token", "client_id": "incode", "client_secret": "s3cret"}
        for kind, event_type in (("onboarding", "onboarding.status_changed"), ("watchlist", "watchlist.updated")):
            made = await api.endpoint(url + f"/incode/{kind}", auth=auth, event_types=[event_type])
            tested = (await api.post(f"/v1/endpoints/{made['id']}/test")).ok()  # a sample of its type
            assert (tested["ok"], tested["status_code"]) == (True, 200), tested
        app.state.onboarding.clear()
        app.state.watchlist.clear()
        (await api.post("/v1/subjects", {"kind": "interview", "id": "int-1"})).ok()
        onboarding = (await api.patch("/v1/subjects/int-1", {"status": "ONBOARDING_FINISHED"})).ok()["event"]
        watchlist = await api.publish("watchlist.updated", {"interviewId": "int-1", "ref": "r", "search_id": "s"})
        await api.wait_event(onboarding["id"])  # succeeded: 200 with JSON is Incode's success
        await api.wait_event(watchlist["id"])
        assert app.state.onboarding == {"int-1": "ONBOARDING_FINISHED"}
        assert app.state.watchlist == [("int-1", "s")]
        seen = app.state.duplicates
        await redeliver(api, watchlist["id"])  # the same webhook-id again: answered, not handled twice
        await eventually(lambda: app.state.duplicates > seen)
        assert app.state.watchlist == [("int-1", "s")]
