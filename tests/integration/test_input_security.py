"""Input that would reach out or leak: a schema's remote `$ref` is never fetched, a signing secret that cannot sign
is refused (and one stored before that gets a clear test-call answer), URL passwords are not shown, the SQLite
files are the owner's only."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import Running, ServeProcess, running_verihook, settings_for_tests
from verihook.model import SigningSecret


class Listener:
    """A TCP server on 127.0.0.1 that records every connection and never answers (a slow host)."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Listener:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await asyncio.sleep(30)
            writer.close()

        self._server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    server = await Listener().start()
    yield server
    await server.stop()


REMOTE_REFS = [
    ("{url}", "schema.$ref"),
    ("{url}#/definitions/x", "schema.$ref"),
    ("other.json", "schema.$ref"),
    ("//127.0.0.1/x.json", "schema.$ref"),
]


@pytest.mark.parametrize(("ref", "field"), REMOTE_REFS)
async def test_a_remote_ref_is_refused_at_registration_and_nothing_is_fetched(
        admin: Api, listener: Listener, ref: str, field: str) -> None:
    url = f"http://127.0.0.1:{listener.port}/schema.json"
    schema = {"type": "object", "$ref": ref.format(url=url)}
    started = time.monotonic()
    reply = await admin.post("/v1/event-types", {"name": "remote.thing", "schema": schema})
    assert reply.status == 422 and reply.body["field"] == field, reply.body
    assert "fetched" in reply.body["detail"]
    assert time.monotonic() - started < 2.0
    names = [t["name"] for t in (await admin.get("/v1/event-types")).ok()["data"]]
    assert "remote.thing" not in names
    await asyncio.sleep(0.1)
    assert listener.connections == 0


async def test_a_local_ref_is_resolved(admin: Api) -> None:
    schema = {"$defs": {"id": {"type": "string", "minLength": 3}}, "type": "object",
              "properties": {"id": {"$ref": "#/$defs/id"}}, "required": ["id"]}
    (await admin.post("/v1/event-types", {"name": "local.thing", "schema": schema})).ok()
    api = await admin.as_new_tenant("acme")
    assert (await api.post("/v1/events", {"type": "local.thing", "data": {"id": "abc"}})).status == 202
    reply = await api.post("/v1/events", {"type": "local.thing", "data": {"id": "x"}})
    assert reply.status == 422 and reply.body["field"] == "data.id", reply.body


async def test_a_stored_schema_with_a_remote_ref_fetches_nothing_and_the_loop_stays_free(
        verihook: Running, admin: Api, listener: Listener) -> None:
    """A schema stored before remote references were refused (written here straight into the store): publishing
    its type is a clear 422, nothing connects to the host, and the process answers /healthz meanwhile."""
    url = f"http://127.0.0.1:{listener.port}/schema.json"
    await verihook.runtime.store.upsert_event_type("legacy.thing", "", b'{"$ref": "%s"}' % url.encode(), time.time())
    api = await admin.as_new_tenant("acme")
    await asyncio.sleep(1.1)  # the registered types are read again after REGISTERED_TYPES_TTL_S
    publish = asyncio.ensure_future(api.post("/v1/events", {"type": "legacy.thing", "data": {}}))
    health = await asyncio.wait_for(admin.get("/healthz"), 2.0)
    assert health.status == 200
    reply = await asyncio.wait_for(publish, 5.0)
    assert reply.status == 422 and reply.body["field"] == "type", reply.body
    assert listener.connections == 0
    assert (await api.get("/v1/events")).ok()["data"] == []


async def test_a_stored_unusable_signing_secret_gets_a_clear_test_result(verihook: Running, api: Api,
                                                                          receiver: Receiver) -> None:
    """Rotating to such a secret is refused now (tests/integration/test_bad_input.py); one stored before answers the
    test call with a failure that says why, not a 500, and never repeats the secret."""
    endpoint = await api.endpoint(receiver.url + "/hook")
    store = verihook.runtime.store
    stored = await store.get_endpoint(endpoint["id"])
    assert stored is not None
    stored.signing_secrets = [SigningSecret("whsec_%%%not-base64%%%")]
    stored.updated_at = time.time()
    await store.update_endpoint(stored)
    reply = await api.post(f"/v1/endpoints/{endpoint['id']}/test")
    assert reply.status == 200, reply.body
    assert reply.body["ok"] is False and reply.body["status_code"] is None
    assert "base64" in reply.body["error_detail"] and "%%%" not in reply.body["error_detail"], reply.body
    assert receiver.requests == []


async def test_a_good_rotated_secret_signs(api: Api, receiver: Receiver) -> None:
    endpoint = await api.endpoint(receiver.url + "/hook")
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes: the smallest Standard Webhooks allows
    (await api.post(f"/v1/endpoints/{endpoint['id']}/secret/rotate", {"secret": secret, "grace_s": 0})).ok()
    reply = (await api.post(f"/v1/endpoints/{endpoint['id']}/test")).ok()
    assert reply["ok"] is True, reply
    [received] = await receiver.wait_for(1)
    assert received.headers["webhook-signature"].startswith("v1,")


async def test_a_password_in_a_url_is_not_shown(api: Api, receiver: Receiver) -> None:
    url = receiver.url.replace("http://", "http://user:s3cret@") + "/hook?x=1"
    created = await api.endpoint(url, auth={"type": "oauth2", "token_url": url.replace("/hook", "/token"),
                                            "client_id": "c", "client_secret": "s"}, enabled=False)
    assert created["url"] == url  # the creator sees what it gave, once
    shown = (await api.get(f"/v1/endpoints/{created['id']}")).ok()
    assert shown["url"] == url.replace(":s3cret@", ":***@")
    assert shown["auth"]["token_url"] == url.replace(":s3cret@", ":***@").replace("/hook", "/token")
    listed = (await api.get("/v1/endpoints")).ok()["data"]
    assert "s3cret" not in str(listed)
    subject = (await api.post("/v1/subjects", {"kind": "process", "webhook_url": url})).ok()
    assert "s3cret" not in str(subject)
    assert "s3cret" not in str((await api.get(f"/v1/subjects/{subject['id']}")).ok())


async def test_the_sqlite_files_are_the_owners_only(verihook: Running, api: Api, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a file mode is SQLite's")
    await api.publish("order.created", {"a": 1})
    path = Path(database_url.removeprefix("sqlite:///"))
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    assert path in files
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, (file, oct(file.stat().st_mode))


async def test_an_over_long_url_is_a_414_problem(api: Api) -> None:
    reply = await api.get("/v1/events", params={"type": "a" * 9000})
    assert reply.status == 414 and reply.content_type.startswith("application/problem+json"), reply.body
    assert reply.body["field"] == "url" and "8192" in reply.body["detail"]
    assert (await api.get("/v1/events", params={"type": "order." + "a" * 7000})).status == 200


async def _raw_request(port: int, request: bytes) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


async def test_a_request_the_http_server_cannot_read_gets_a_problem(tmp_path: Path) -> None:
    """Answered by the HTTP server before the app (`verihook serve`): a control character in a header value, a
    request line past the parser's limit. Was a plain-text 400."""
    serve = ServeProcess(f"sqlite:///{tmp_path / 'verihook.db'}", tmp_path)
    await serve.start()
    try:
        for request in (
            b"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\x01y\r\n\r\n",
            b"GET /v1/events HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
            b"GET /v1/events?type=" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            head, body = await _raw_request(serve.port, request)
            assert head.startswith(b"HTTP/1.1 400 "), head
            assert b"content-type: application/problem+json" in head.lower(), head
            problem = orjson.loads(body)
            assert problem["status"] == 400 and "cannot be read" in problem["detail"], problem
    finally:
        serve.stop()


async def test_an_existing_world_readable_database_is_made_the_owners_only(tmp_path: Path) -> None:
    path = tmp_path / "verihook.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    async with running_verihook(settings_for_tests(f"sqlite:///{path}")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
