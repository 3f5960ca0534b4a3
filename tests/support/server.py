"""Verihook running for a test: in this process on a real port, or as a `verihook serve` child process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from verihook.api.app import create_app
from verihook.config import DispatcherSettings, Settings
from verihook.runtime import Runtime, build_runtime

ADMIN_KEY = "test-admin-key"
SECRET_KEY = "test-secret-key"
# (store, VERIHOOK_TRANSPORT) for end-to-end delivery tests over both transports: the default on both stores, the
# aiohttp fallback on SQLite only (what a transport does does not depend on the store)
TRANSPORT_CASES = [("sqlite", "pyreqwest"), ("postgres", "pyreqwest"), ("sqlite", "aiohttp")]


def settings_for_tests(database_url: str, **changes: object) -> Settings:
    return Settings(database_url=database_url, admin_key=ADMIN_KEY, secret_key=SECRET_KEY,
                    allow_private_targets=True, transport=Settings.from_env().transport,
                    dispatcher=DispatcherSettings(poll_interval_s=0.25)).with_(**changes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(slots=True)
class Running:
    runtime: Runtime
    base_url: str


@contextlib.asynccontextmanager
async def running_verihook(settings: Settings, *, run_dispatcher: bool = True,
                           tls: tuple[Path, Path] | None = None) -> AsyncIterator[Running]:
    """`tls`: (certificate file, key file) to serve HTTPS instead of HTTP."""
    runtime = await build_runtime(settings)
    app = create_app(runtime, run_dispatcher=run_dispatcher)
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else each keep-alive reply waits ~40 ms (Nagle)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", loop="none",
                            ssl_certfile=tls and str(tls[0]), ssl_keyfile=tls and str(tls[1]))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield Running(runtime, f"{'https' if tls else 'http'}://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task
        await runtime.close()
        sock.close()


class ServeProcess:
    """`verihook serve` (or `api`, `worker`: `role`) as a child process, for tests that kill and restart it."""

    def __init__(self, database_url: str, workdir: Path, port: int | None = None, *, role: str = "serve",
                 env: dict[str, str] | None = None) -> None:
        self.role = role
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {**os.environ, "VERIHOOK_DATABASE_URL": database_url, "VERIHOOK_ADMIN_KEY": ADMIN_KEY,
                    "VERIHOOK_SECRET_KEY": SECRET_KEY, "VERIHOOK_ALLOW_PRIVATE_TARGETS": "1",
                    "VERIHOOK_POLL_INTERVAL_S": "0.25", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{self.role}-{self.port}.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "verihook.cli", self.role, "--port", str(self.port)], cwd=self.workdir,
                env=self.env, stdout=log, stderr=subprocess.STDOUT)

    async def start(self, timeout: float = 20.0) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"verihook {self.role} exited with {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"verihook {self.role} did not start listening")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
