"""Serve a receiver application for a test on 127.0.0.1: an ASGI app under uvicorn, a WSGI app under wsgiref."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import uvicorn

from tests.tlsutil import TlsFiles

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


@contextlib.asynccontextmanager
async def serving_asgi(app: Any, tls: TlsFiles | None = None, *, lifespan: bool = False) -> AsyncIterator[str]:
    """The app's base URL (https with `tls`) while uvicorn serves it in this event loop."""
    certificate = (tls.cert_file, tls.key_file) if tls else None
    async with serving_uvicorn(app, certificate, lifespan=lifespan) as url:
        yield url


@contextlib.asynccontextmanager
async def serving_uvicorn(app: Any, certificate: tuple[Path, Path] | None = None, *, lifespan: bool = False
                          ) -> AsyncIterator[str]:
    """uvicorn serving `app` on a free 127.0.0.1 port in this event loop; `certificate`: (cert file, key file)."""
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else each keep-alive reply waits ~40 ms (Nagle)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on" if lifespan else "off",
                            loop="none", ssl_certfile=certificate and str(certificate[0]),
                            ssl_keyfile=certificate and str(certificate[1]))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"{'https' if certificate else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def serving_wsgi(app: WSGIApplication) -> Iterator[str]:
    """The app's base URL while a threaded wsgiref server runs it in a thread."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
