"""The receiver toolkit's FastAPI and WSGI adapters on real servers: refusals, tolerance, de-duplication that
forgets a failed attempt, and a WSGI receiver with its own OAuth2 token URL fed by a real Verihook."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated

import aiohttp
from fastapi import Depends, FastAPI

from tests.support.api import Api
from tests.support.apps import serving_asgi, serving_wsgi
from verihook.delivery.auth import basic_credentials
from verihook.delivery.signing import generate_secret, signing_headers
from verihook.receiver import ClientCredentials, Deduplicator, Webhook
from verihook.receiver.fastapi import WebhookVerifier
from verihook.receiver.wsgi import WEBHOOK_KEY, WebhookMiddleware, bearer_valid, token_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

BODY = b'{"type":"order.created","data":{"n":1}}'


def _signed(secret: str, msg_id: str = "evt_1", age_s: int = 0, body: bytes = BODY) -> dict[str, str]:
    return {**dict(signing_headers([secret], msg_id, int(time.time()) - age_s, body)),
            "Content-Type": "application/json"}


async def _post(http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes = BODY
                ) -> tuple[int, str]:
    async with http.post(url, data=body, headers=headers) as answer:
        return answer.status, await answer.text()


# Module-level, as a receiver writes it: FastAPI resolves string annotations in the module's globals.
FLAKY_SECRET = generate_secret()
flaky_verifier = WebhookVerifier(FLAKY_SECRET, tolerance_s=60, deduplicator=Deduplicator())
flaky_app = FastAPI()
handled: list[str] = []


@flaky_app.post("/hook")
async def flaky_hook(webhook: Annotated[Webhook, Depends(flaky_verifier)]) -> dict[str, bool]:
    """Fails the first time it handles a webhook, as a receiver whose database hiccups."""
    if webhook.duplicate:
        return {"duplicate": True}
    handled.append(webhook.id)
    if len(handled) == 1:
        raise RuntimeError("the receiver's database hiccupped")
    return {"duplicate": False}


async def test_fastapi_dependency() -> None:
    secret = FLAKY_SECRET
    # a fresh connection a request: uvicorn closes the one on which the handler raised
    async with serving_asgi(flaky_app) as url, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True)) as http:
        assert (await _post(http, url + "/hook", _signed(generate_secret())))[0] == 401
        status, text = await _post(http, url + "/hook", _signed(secret, age_s=120))
        assert status == 401 and "timestamp too old" in json.loads(text)["detail"]
        status, text = await _post(http, url + "/hook", {"Content-Type": "application/json"})
        assert status == 401 and "missing header(s)" in text
        assert handled == []
        assert (await _post(http, url + "/hook", _signed(secret)))[0] == 500  # the handler failed ...
        assert await _post(http, url + "/hook", _signed(secret)) == (200, '{"duplicate":false}')  # ... retried
        assert await _post(http, url + "/hook", _signed(secret)) == (200, '{"duplicate":true}')
        assert handled == ["evt_1", "evt_1"]


def _wsgi_receiver(secret: str, issuer: ClientCredentials, got: list[Webhook]
                   ) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    def hook(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        webhook: Webhook = environ[WEBHOOK_KEY]
        got.append(webhook)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    verified = WebhookMiddleware(hook, secret, deduplicator=Deduplicator())

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/oauth/token":
            return token_app(issuer)(environ, start_response)
        if not bearer_valid(issuer, environ):
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error": "invalid_token"}']
        return verified(environ, start_response)

    return app


async def test_a_wsgi_receiver_with_its_own_token_url_gets_a_real_verihook(
        api: Api, http: aiohttp.ClientSession) -> None:
    issuer, got = ClientCredentials("verihook", "s3cret", lifetime_s=600), []
    endpoint = await api.endpoint("http://127.0.0.1:9/not-yet", retry={"strategy": "none"})
    with serving_wsgi(_wsgi_receiver(endpoint["signing_secret"], issuer, got)) as url:
        (await api.patch(f"/v1/endpoints/{endpoint['id']}", {"url": url + "/hook", "auth": {
            "type": "oauth2", "token_url": url + "/oauth/token", "client_id": "verihook",
            "client_secret": "s3cret"}})).ok()
        event = await api.publish("order.created", {"n": 1})
        done = await api.wait_event(event["id"])
        assert done["deliveries"][0]["attempts"][0]["status_code"] == 200
        (await api.post(f"/v1/events/{event['id']}/redeliver")).ok()
        await api.wait_event(event["id"])
        assert [(w.id, w.duplicate) for w in got] == [(event["id"], False), (event["id"], True)]
        assert got[0].json()["data"] == {"n": 1}
        assert (await _post(http, url + "/hook", _signed(endpoint["signing_secret"])))[0] == 401  # no token
        wrong = {"Authorization": f"Basic {basic_credentials('verihook', 'wrong')}"}
        async with http.post(url + "/oauth/token", data={"grant_type": "client_credentials"},
                             headers=wrong) as answer:
            assert answer.status == 401 and (await answer.json())["error"] == "invalid_client"
        async with http.get(url + "/oauth/token") as answer:
            assert answer.status == 400
        token = issuer.issue(f"Basic {basic_credentials('verihook', 's3cret')}",
                             b"grant_type=client_credentials").body["access_token"]
        async with http.post(url + "/hook", data=b"x" * (16 * 1024 * 1024 + 1),
                             headers={"Authorization": f"Bearer {token}"}) as answer:
            assert answer.status == 413
