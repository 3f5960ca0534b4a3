"""The receiver toolkit: signature checks for customers' receivers, and the ``verihook listen`` server.

    from verihook.receiver import InvalidSignature, verify

    try:
        verify(secret, request.headers, raw_body)   # raises on a bad or stale signature
    except InvalidSignature:
        return 401

``run_listener`` is a local receiver that prints every request it gets and checks its signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from verihook.delivery.signing import InvalidSignature, secret_key, verify

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["InvalidSignature", "listen_main", "run_listener", "verify"]

MAX_BODY_BYTES = 64 * 1024 * 1024
_BODYLESS_STATUSES = frozenset({204, 304})


def _format_body(body: bytes) -> str:
    if not body:
        return "(empty body)"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
        return body.decode("utf-8", errors="replace")


def _format_request(request: web.Request, body: bytes, signature: str | None) -> str:
    when = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines = [f"{request.method} {request.raw_path}  {when}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines += ["", _format_body(body)]
    if signature is not None:
        lines.append(f"signature: {signature}")
    return "\n".join(lines) + "\n\n"


async def run_listener(
    host: str,
    port: int,
    secret: str | None,
    out: TextIO = sys.stdout,
    *,
    status: int = 200,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve on host:port until cancelled; answer every request with ``status`` (401 on a bad signature)."""
    from aiohttp import web

    if secret is not None:
        secret_key(secret)  # a malformed secret fails here, not on the first request

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        signature: str | None = None
        problem: str | None = None
        if secret is not None:
            try:
                verify(secret, request.headers, body)
                signature = "valid"
            except InvalidSignature as exc:
                problem = str(exc)
                signature = f"INVALID ({problem})"
        out.write(_format_request(request, body, signature))
        out.flush()
        if problem is not None:
            return web.json_response({"ok": False, "error": f"invalid signature: {problem}"}, status=401)
        if status in _BODYLESS_STATUSES or status < 200:
            return web.Response(status=status)
        return web.json_response({"ok": True}, status=status)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()  # until cancelled
    finally:
        await runner.cleanup()


def listen_main(host: str, port: int, secret: str | None, status: int = 200) -> None:
    """``verihook listen``: run the listener under uvloop until Ctrl-C."""
    import uvloop

    async def main() -> None:
        ready = asyncio.Event()
        server = asyncio.create_task(run_listener(host, port, secret, sys.stdout, status=status, ready=ready))
        started = asyncio.create_task(ready.wait())
        await asyncio.wait({server, started}, return_when=asyncio.FIRST_COMPLETED)
        if server.done():  # it could not start (e.g. the port is taken)
            started.cancel()
            server.result()
            return
        shown_host = f"[{host}]" if ":" in host else host
        print(f"listening on http://{shown_host}:{port}/", flush=True)
        if secret is None:
            print("no --secret given: signatures are not checked", flush=True)
        await server

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main())
