"""`VERIHOOK_LOG_FORMAT=json` on a real `verihook serve`: JSON lines, one per attempt, and no secret anywhere."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from tests.support.server import ADMIN_KEY, SECRET_KEY, ServeProcess
from verihook.delivery.auth import basic_credentials

BASIC_TOKEN = "basic-token-c2VjcmV0LWJhc2lj"
BEARER_TOKEN = "bearer-token-c2VjcmV0LWJlYXJlcg"
CLIENT_SECRET = "client-secret-c2VjcmV0LWNsaWVudA"


def _echo_credentials(request: Received) -> Answer:
    """A token endpoint that refuses, repeating back what it was sent (credentials included)."""
    echoed = json.dumps({"error": "invalid_client", "you_sent": request.headers.get("authorization"),
                         "form": request.body.decode()})
    return Answer(400, echoed.encode())


def _by_path(request: Received) -> Answer:
    return Answer(500, b'{"error": "down"}') if "/down" in request.path_qs else Answer(200)


@dataclass
class Run:
    log: str  # everything the process wrote, stdout and stderr
    secrets: dict[str, str]
    events: list[dict[str, Any]]  # the events, with their deliveries and attempts, as the API shows them


@pytest.fixture
async def run(database_url: str, tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver
              ) -> AsyncIterator[Run]:
    token_server = await Receiver().start()
    token_server.handler = _echo_credentials
    receiver.handler = _by_path
    serve = ServeProcess(database_url, tmp_path, env={"VERIHOOK_LOG_FORMAT": "json"})
    try:
        await serve.start()
        await pg.wait_ready(serve.base_url)
        admin = Api(serve.base_url, ADMIN_KEY, http)
        made = await admin.tenant("logged")
        api = admin.as_key(made["api_key"])
        none = {"strategy": "none"}
        endpoints = [
            await api.endpoint(receiver.url + "/basic", event_types=["l.basic"], retry=none,
                               auth={"type": "basic", "token": BASIC_TOKEN}),
            await api.endpoint(receiver.url + "/down", event_types=["l.down"],
                               retry={"strategy": "schedule", "delays_s": [0.1]},
                               auth={"type": "bearer", "token": BEARER_TOKEN}),
            await api.endpoint(receiver.url + "/oauth", event_types=["l.oauth"], retry=none, auth={
                "type": "oauth2", "token_url": token_server.url + "/token", "client_id": "verihook",
                "client_secret": CLIENT_SECRET}),
        ]
        events = [await api.publish(kind, {"n": 1}) for kind in ("l.basic", "l.down", "l.oauth")]
        await api.wait_event(events[0]["id"])
        await api.wait_event(events[1]["id"], "failed")
        await api.wait_event(events[2]["id"], "failed")
        await receiver.wait_for(3)
        shown = [(await api.get(f"/v1/events/{event['id']}")).ok() for event in events]
        secrets = {"admin key": ADMIN_KEY, "secret key": SECRET_KEY, "tenant key": made["api_key"],
                   "tenant signing secret": made["signing_secret"], "basic token": BASIC_TOKEN,
                   "bearer token": BEARER_TOKEN, "client secret": CLIENT_SECRET,
                   "client credentials": basic_credentials("verihook", CLIENT_SECRET),
                   **{f"signing secret {i}": e["signing_secret"] for i, e in enumerate(endpoints)}}
    finally:
        serve.stop()
        await token_server.stop()
    yield Run((tmp_path / f"serve-{serve.port}.log").read_text(), secrets, shown)


def _json_lines(log: str) -> list[dict[str, Any]]:
    records = []
    for line in log.splitlines():
        if line.startswith("verihook: "):  # the start-up announcements, printed to stdout as text
            continue
        records.append(json.loads(line))  # every other line is one JSON object
    return records


async def test_json_logs_carry_no_secret(run: Run) -> None:
    _json_lines(run.log)
    for name, secret in run.secrets.items():
        assert secret not in run.log, f"the {name} is in the log:\n{run.log}"


async def test_one_json_line_per_attempt(run: Run) -> None:
    attempts = [r for r in _json_lines(run.log) if r["logger"] == "verihook.attempt"]
    expected = [(event["id"], delivery["id"], attempt)
                for event in run.events for delivery in event["deliveries"] for attempt in delivery["attempts"]]
    assert len(attempts) == len(expected) == 4  # basic, down twice, oauth
    by_key = {(r["delivery_id"], r["attempt"]): r for r in attempts}
    for event_id, delivery_id, attempt in expected:
        line = by_key[(delivery_id, attempt["number"])]
        assert line["event_id"] == event_id
        assert line["status_code"] == attempt["status_code"]
        assert line["latency_ms"] == pytest.approx(attempt["latency_ms"], abs=0.01)
        assert line["endpoint_id"] is not None
    outcomes = sorted(r["outcome"] for r in attempts)
    assert outcomes == ["failed", "failed", "retrying", "succeeded"]
    [oauth] = [r for r in attempts if r["status_code"] is None]
    assert oauth["error"]  # the token endpoint's refusal, redacted
