from __future__ import annotations

import asyncio
import io
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from tests.support.api import Api
from verihook.delivery.signing import generate_secret, signing_headers
from verihook.receiver import InvalidSignature, run_listener, verify

BODY = b'{"type":"process.completed","data":{"ProcessId":"p-1","Status":2}}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _listener(secret: str | None, status: int = 200) -> AsyncIterator[tuple[str, io.StringIO]]:
    out = io.StringIO()
    port = _free_port()
    ready = asyncio.Event()
    task = asyncio.create_task(run_listener("127.0.0.1", port, secret, out, status=status, ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    try:
        yield f"http://127.0.0.1:{port}", out
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _signed(secret: str, body: bytes = BODY) -> dict[str, str]:
    headers = dict(signing_headers([secret], "msg_listen_1", int(time.time()), body))
    headers["Content-Type"] = "application/json"
    return headers


async def test_valid_and_invalid_signatures() -> None:
    secret = generate_secret()
    async with _listener(secret) as (url, out), aiohttp.ClientSession() as http:
        async with http.post(f"{url}/hooks/credas?portal=a%20b&x=1", data=BODY, headers=_signed(secret)) as r:
            assert r.status == 200
            assert await r.json() == {"ok": True}
        first = out.getvalue()
        assert first.startswith("POST /hooks/credas?portal=a%20b&x=1  ")
        assert "webhook-id: msg_listen_1" in first.lower()
        assert '  "ProcessId": "p-1",' in first  # pretty-printed JSON
        assert "signature: valid" in first
        assert "delivery: first attempt" in first and "answered: 200" in first

        bad = _signed(generate_secret())
        async with http.post(f"{url}/hooks", data=BODY, headers=bad) as r:
            assert r.status == 401
            answer = await r.json()
            assert answer["ok"] is False
            assert "no matching v1 signature" in answer["error"]
        second = out.getvalue()[len(first) :]
        assert second.startswith("POST /hooks  ")
        assert "signature: INVALID (no matching v1 signature)" in second
        assert "answered: 401" in second

        async with http.put(f"{url}/other", data=b"plain text") as r:
            assert r.status == 401
        third = out.getvalue()[len(first) + len(second) :]
        assert third.startswith("PUT /other  ")
        assert "plain text" in third
        missing = "missing header(s): webhook-id, webhook-timestamp, webhook-signature"
        assert f"signature: INVALID ({missing})" in third


@pytest.mark.parametrize("status", [200, 204, 500])
async def test_without_secret_answers_the_given_status(status: int) -> None:
    async with _listener(None, status=status) as (url, out), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/anything") as r:
            assert r.status == status
            if status != 204:
                assert await r.json() == {"ok": status == 200}
        printed = out.getvalue()
        assert printed.startswith("GET /anything  ")
        assert "(empty body)" in printed
        assert "signature:" not in printed


async def test_a_malformed_secret_fails_before_serving() -> None:
    with pytest.raises(ValueError):
        await run_listener("127.0.0.1", _free_port(), "whsec_a", io.StringIO())


def test_receiver_verify_is_the_toolkit_entry_point() -> None:
    secret = generate_secret()
    headers = _signed(secret)
    verify(secret, headers, BODY)
    with pytest.raises(InvalidSignature):
        verify(secret, headers, BODY + b" ")


async def test_a_list_of_statuses_rehearses_retries() -> None:
    """`--status 500,503,200`: each attempt of one webhook-id gets the next code, later ones the last."""
    secret = generate_secret()
    async with _listener(secret, status=(500, 503, 200)) as (url, out), aiohttp.ClientSession() as http:
        answers = []
        for msg_id in ("msg_a", "msg_a", "msg_b", "msg_a", "msg_a"):
            headers = dict(signing_headers([secret], msg_id, int(time.time()), BODY))
            async with http.post(f"{url}/hooks", data=BODY, headers=headers) as r:
                answers.append(r.status)
        assert answers == [500, 503, 500, 200, 200]
        blocks = out.getvalue().split("POST /hooks  ")[1:]
        assert len(blocks) == 5
        assert "delivery: first attempt" in blocks[0] and "answered: 500" in blocks[0]
        assert "delivery: attempt 2 of this webhook-id (a retry)" in blocks[1] and "answered: 503" in blocks[1]
        assert "delivery: first attempt" in blocks[2]
        assert "delivery: attempt 4 of this webhook-id (a retry)" in blocks[4] and "answered: 200" in blocks[4]
        assert "webhook-timestamp: " in blocks[0] and " s ago)" in blocks[0]


async def test_the_command_rehearses_a_retry_with_a_real_verihook(api: Api) -> None:
    port = _free_port()
    endpoint = await api.endpoint(f"http://127.0.0.1:{port}/hooks",
                                  retry={"strategy": "schedule", "delays_s": [0.2]})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "verihook.cli", "listen", "--port", str(port), "--secret", endpoint["signing_secret"],
        "--status", "503,200", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        assert b"listening on" in await asyncio.wait_for(process.stdout.readline(), 15)
        event = await api.publish("order.created", {"order": "o-9"})
        done = await api.wait_event(event["id"])
        assert [a["status_code"] for a in done["deliveries"][0]["attempts"]] == [503, 200]
        printed = ""
        async with asyncio.timeout(10):
            while printed.count("answered: ") < 2:
                printed += (await process.stdout.readline()).decode()
        first, second = printed.split("POST /hooks  ")[1:]
        assert "delivery: first attempt" in first and "answered: 503" in first
        assert "delivery: attempt 2 of this webhook-id (a retry)" in second and "answered: 200" in second
        assert "signature: valid" in first and "signature: valid" in second
    finally:
        process.terminate()
        await process.wait()


async def test_the_command_refuses_a_bad_status() -> None:
    ran = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "verihook.cli", "listen", "--status", "200,abc", stderr=asyncio.subprocess.PIPE)
    _, err = await ran.communicate()
    assert ran.returncode == 2 and b"--status: 'abc' is not an HTTP status code" in err
