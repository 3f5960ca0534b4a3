"""`verihook listen`: a local receiver that shows each webhook readably, checks its signature, and answers with
a chosen status, to rehearse what a receiver sees (retries included) before writing one.

    verihook listen --port 9000 --secret whsec_... --status 500,500,200

`--status` is one code, or a list: the Nth attempt of a notification (counted by its `webhook-id`) gets the Nth
code, and every later attempt the last one. A bad signature answers 401 whatever the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.json import JSON
from rich.rule import Rule
from rich.text import Text

from verihook.delivery.signing import HEADER_ID, HEADER_TIMESTAMP, InvalidSignature, secret_key, verify

if TYPE_CHECKING:
    from aiohttp import web

MAX_BODY_BYTES = 64 * 1024 * 1024
_BODYLESS_STATUSES = frozenset({204, 304})
_NOTABLE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "authorization",
                              "verihook-sequence", "verihook-subject", "traceparent"})


def parse_statuses(text: str) -> tuple[int, ...]:
    """`"500,500,200"` -> (500, 500, 200); ValueError naming a code that is not 100-599."""
    codes = []
    for part in text.split(","):
        if not part.strip().isdigit():
            raise ValueError(f"{part.strip()!r} is not an HTTP status code")
        code = int(part)
        if not 100 <= code <= 599:
            raise ValueError(f"{code} is not an HTTP status code (100-599)")
        codes.append(code)
    return tuple(codes)


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """What checking a request's signature found."""

    valid: bool | None  # None: no secret given, nothing checked
    problem: str | None = None


def _check(secret: str | None, request: web.Request, body: bytes) -> SignatureCheck:
    if secret is None:
        return SignatureCheck(None)
    try:
        verify(secret, request.headers, body)
    except InvalidSignature as error:
        return SignatureCheck(False, str(error))
    return SignatureCheck(True)


class Printer:
    """Writes one readable block per request to a terminal (colours) or a file (plain text)."""

    def __init__(self, out: TextIO) -> None:
        self.console = Console(file=out, highlight=False, soft_wrap=True,
                               width=None if out.isatty() else 120)

    def show(self, request: web.Request, body: bytes, attempt: int, signature: SignatureCheck, status: int) -> None:
        when = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        print_ = self.console.print
        print_(Rule(Text(f"{request.method} {request.raw_path}  {when} ", style="bold"),
                                align="left", style="cyan"))
        webhook_id = request.headers.get(HEADER_ID)
        if webhook_id is not None:
            repeat = "first attempt" if attempt == 1 else f"attempt {attempt} of this webhook-id (a retry)"
            print_(Text.assemble(("delivery: ", "bold"), (repeat, "yellow" if attempt > 1 else "green")))
        for name, value in request.headers.items():
            notable = name.lower() in _NOTABLE_HEADERS
            line = Text.assemble((f"{name}: ", "bold magenta" if notable else "dim"), value)
            if name.lower() == HEADER_TIMESTAMP and value.strip().isdigit():
                line.append(f"  ({_age(int(value))})", style="dim")
            print_(line)
        print_()
        self._body(body)
        if signature.valid is True:
            print_(Text.assemble(("signature: ", "bold"), ("valid", "bold green")))
        elif signature.valid is False:
            print_(Text.assemble(("signature: ", "bold"), (f"INVALID ({signature.problem})", "bold red")))
        print_(Text.assemble(("answered: ", "bold"), (str(status), "green" if 200 <= status < 300 else "red")))
        print_()
        self.console.file.flush()

    def _body(self, body: bytes) -> None:
        if not body:
            self.console.print("(empty body)", style="dim")
            return
        try:
            self.console.print(JSON(json.dumps(json.loads(body), ensure_ascii=False), indent=2))
        except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
            self.console.print(Text(body.decode("utf-8", errors="replace")))


def _age(timestamp: int) -> str:
    seconds = int(time.time() - timestamp)
    return f"{seconds} s ago" if seconds >= 0 else f"{-seconds} s ahead"


async def run_listener(
    host: str,
    port: int,
    secret: str | None,
    out: TextIO = sys.stdout,
    *,
    status: int | Sequence[int] = 200,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve on host:port until cancelled; answer each attempt with its status (401 on a bad signature)."""
    from aiohttp import web

    if secret is not None:
        secret_key(secret)  # a malformed secret fails here, not on the first request
    statuses = (status,) if isinstance(status, int) else tuple(status)
    attempts: Counter[str] = Counter()
    printer = Printer(out)

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        webhook_id = request.headers.get(HEADER_ID, "")
        attempts[webhook_id] += 1
        attempt = attempts[webhook_id]
        signature = _check(secret, request, body)
        answer = 401 if signature.valid is False else statuses[min(attempt, len(statuses)) - 1]
        printer.show(request, body, attempt, signature, answer)
        if signature.valid is False:
            return web.json_response({"ok": False, "error": f"invalid signature: {signature.problem}"}, status=401)
        if answer in _BODYLESS_STATUSES or answer < 200:
            return web.Response(status=answer)
        return web.json_response({"ok": 200 <= answer < 300}, status=answer)

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


def listen_main(host: str, port: int, secret: str | None, status: int | Sequence[int] = 200) -> None:
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
