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

from tests.support.apps import serving_uvicorn
from verihook.api.app import create_app
from verihook.config import DispatcherSettings, Settings
from verihook.delivery.transport import Transport
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
                           tls: tuple[Path, Path] | None = None,
                           transport: Transport | None = None) -> AsyncIterator[Running]:
    """`tls`: (certificate file, key file) to serve HTTPS instead of HTTP; `transport`: one the test built (a
    resolver of its own), instead of the one `settings` name."""
    runtime = await build_runtime(settings, transport=transport)
    try:
        async with serving_uvicorn(create_app(runtime, run_dispatcher=run_dispatcher), tls, lifespan=True) as url:
            yield Running(runtime, url)
    finally:
        await runtime.close()


class ServeProcess:
    """`verihook serve` (or `api`, `worker`: `role`) as a child process, for tests that kill and restart it."""

    def __init__(self, database_url: str, workdir: Path, port: int | None = None, *, role: str = "serve",
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.role = role
        self.args = args
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
                [sys.executable, "-m", "verihook.cli", self.role, "--port", str(self.port), *self.args],
                cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)

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
