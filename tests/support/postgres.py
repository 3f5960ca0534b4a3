"""PostgreSQL for tests: the local server (started when it is down; a run fails loudly when it cannot be reached),
one migrated template database per test run, and a fresh database per test copied from it (about 30 ms); and for
the scaling tests, fleets of `verihook api`/`worker` processes and a private server that a test may stop.

Databases are named verihook_test_<unix time>_<random>_<n>; each is dropped in the background after its test,
and databases that an interrupted run left behind are dropped when a later run starts (after STALE_AFTER_S).
Admin statements run on a private event loop in a thread, so the fixtures stay synchronous and never touch the
tests' own loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg

from tests.support.server import ServeProcess, free_port
from verihook.crypto import SecretBox
from verihook.store.postgres import PostgresStore

T = TypeVar("T")

HOST = os.environ.get("VERIHOOK_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("VERIHOOK_TEST_PG_PORT", "5432"))
USERS = ("postgres", "root")
ADMIN_DATABASES = ("postgres", "root", "test")
START_WAIT_S = 30.0
STALE_AFTER_S = 6 * 3600
PREFIX = "verihook_test_"
READY_AHEAD = 2  # template copies made ahead of the tests that will ask for them


def server_url(user: str, database: str, host: str = HOST, port: int = PORT) -> str:
    return f"postgresql://{user}@{host}:{port}/{database}"


def start_local_server() -> None:
    """Start the machine's PostgreSQL cluster (Debian's pg_ctlcluster) as the test setup does when it is down."""
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir()) if Path("/etc/postgresql").is_dir() else []
    if not versions:
        raise RuntimeError("PostgreSQL is not reachable and no cluster is configured in /etc/postgresql")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
                   check=False, capture_output=True, timeout=60)


async def _connect_admin() -> asyncpg.Connection:
    errors = []
    for user in USERS:
        for database in ADMIN_DATABASES:
            try:
                return await asyncpg.connect(server_url(user, database), timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                errors.append(f"{user}@{database}: {error}")
    raise ConnectionError("; ".join(errors))


class _Loop:
    """An event loop in a daemon thread, for admin work from synchronous fixtures."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pg-test-admin", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class TestDatabases:
    """Fresh, migrated databases on the local server: `create()` per test, `drop()` after it."""

    __test__ = False

    def __init__(self) -> None:
        self.prefix = f"{PREFIX}{int(time.time())}_{secrets.token_hex(3)}"
        self.template = f"{self.prefix}_template"
        self.user = ""
        self._count = 0
        self._loop = _Loop()
        self._creator: asyncpg.Connection | None = None
        self._dropper: asyncpg.Connection | None = None
        self._drops: list[Future[None]] = []
        self._drop_lock: asyncio.Lock | None = None
        self._create_lock = asyncio.Lock()  # bound to the admin loop when first used there
        self._ready: list[Future[str]] = []  # copies of the template being made or made, not yet handed out

    def url(self, database: str) -> str:
        return server_url(self.user, database)

    def start(self) -> TestDatabases:
        self._loop.run(self._start())
        return self

    async def _start(self) -> None:
        try:
            self._creator = await _connect_admin()
        except ConnectionError:
            start_local_server()
            deadline = time.monotonic() + START_WAIT_S
            while True:
                try:
                    self._creator = await _connect_admin()
                    break
                except ConnectionError as error:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"PostgreSQL at {HOST}:{PORT} is unreachable and did not start; the "
                                           f"PostgreSQL half of the suite cannot run: {error}") from error
                    await asyncio.sleep(0.5)
        self.user = await self._creator.fetchval("SELECT current_user")
        self._dropper = await asyncpg.connect(self.url("postgres"), timeout=5)
        self._drop_lock = asyncio.Lock()
        await self._drop_stale()
        await self._creator.execute(f'CREATE DATABASE "{self.template}"')
        store = PostgresStore(self.url(self.template), SecretBox("template"))
        try:
            await store.migrate()
        finally:
            await store.close()

    async def _drop_stale(self) -> None:
        assert self._creator is not None
        names = await self._creator.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", PREFIX + "%")
        for (name,) in names:
            stamp = name.removeprefix(PREFIX).split("_", 1)[0]
            if stamp.isdigit() and time.time() - int(stamp) > STALE_AFTER_S:
                with contextlib.suppress(asyncpg.PostgresError):
                    await self._creator.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create(self) -> str:
        """A new database with the current schema, its URL. A copy of the template takes 30-200 ms here, so a few
        are made ahead in the background while the tests run: a test usually finds one ready."""
        while len(self._ready) <= READY_AHEAD:
            self._ready.append(self._loop.submit(self._copy_template()))
        name = self._ready.pop(0).result(120)
        return self.url(name)

    async def _copy_template(self) -> str:
        self._count += 1
        name = f"{self.prefix}_{self._count}"
        assert self._creator is not None
        async with self._create_lock:  # one statement at a time on the one connection
            await self._creator.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def empty(self) -> str:
        """A new database with no schema at all (for migration tests), its URL."""
        return self.url(self._loop.run(self._empty()))

    async def _empty(self) -> str:
        self._count += 1
        name = f"{self.prefix}_{self._count}"
        assert self._creator is not None
        async with self._create_lock:
            await self._creator.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, url: str) -> None:
        """Drop the database in the background (a drop takes 10-300 ms; the next test need not wait)."""
        self._drops.append(self._loop.submit(self._drop(url.rsplit("/", 1)[1])))

    async def _drop(self, name: str) -> None:
        assert self._dropper is not None and self._drop_lock is not None
        async with self._drop_lock:
            await self._dropper.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for ready in self._ready:
            with contextlib.suppress(Exception):
                self.drop(self.url(ready.result(60)))
        for future in self._drops:
            with contextlib.suppress(Exception):
                future.result(60)
        with contextlib.suppress(Exception):
            self._loop.run(self._drop(self.template), timeout=60)
        for conn in (self._creator, self._dropper):
            if conn is not None:
                with contextlib.suppress(Exception):
                    self._loop.run(conn.close(), timeout=10)
        self._loop.stop()


async def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Read a test database directly (for assertions about what was stored), from a test's own loop."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


# many processes on one database (the scaling and fault tests)


class Fleet:
    """`verihook api` and `verihook worker` processes sharing one database, each on its own port."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.env = env or {}
        self.processes: list[ServeProcess] = []
        self.listening: list[ServeProcess] = []

    async def start(self, role: str) -> ServeProcess:
        process = ServeProcess(self.database_url, self.workdir, role=role, env=self.env)
        self.processes.append(process)
        await process.start(timeout=60)
        self.listening.append(process)
        return process

    def alive(self, role: str) -> list[ServeProcess]:
        """The processes of `role` that started listening and have not exited, oldest first."""
        return [p for p in self.listening if p.role == role and p.process is not None and p.process.poll() is None]

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def logs(self) -> str:
        """The tail of every process's log, for a failing test's message."""
        parts = []
        for path in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)


async def wait_ready(base_url: str, timeout: float = 30.0) -> None:
    """Wait until a process answers 200 on /readyz (its store is reachable, its dispatcher runs)."""
    deadline = time.monotonic() + timeout
    last = ""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(base_url + "/readyz") as response:
                    if response.status == 200:
                        return
                    last = f"{response.status} {await response.text()}"
            except aiohttp.ClientError as error:
                last = repr(error)
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{base_url} is not ready after {timeout} s: {last}")


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout} s")
        await asyncio.sleep(0.2)


# a private server, for tests that stop and start PostgreSQL itself


def _binaries() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return versions[-1].parent


class PrivateServer:
    """A throwaway PostgreSQL cluster (the machine's own server binaries) on a free port, that a test may stop
    and start without disturbing the shared server other tests use. Runs as the postgres user when the tests
    run as root (the server refuses root)."""

    def __init__(self) -> None:
        self.bin = _binaries()
        self.dir = Path(tempfile.mkdtemp(prefix="verihook-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout.decode()} {done.stderr.decode()}")

    def url(self, database: str = "postgres") -> str:
        return server_url("postgres", database, "127.0.0.1", self.port)

    def init(self) -> PrivateServer:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                   "-c autovacuum=off -c shared_buffers=32MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
