"""SQLite connections, each owned by one thread: a reader, and a writer that commits queued calls in groups.

Group commit: while the writer thread runs one transaction, the write calls that arrive queue up; it then runs
all of them in one `BEGIN IMMEDIATE ... COMMIT`, each inside its own savepoint (a call that fails is undone
alone), and answers every caller only after the COMMIT. One fsync then covers many publishes, claims and
outcome batches, and nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
MAX_GROUP = 128  # write calls in one transaction at the most


FILE_MODE = 0o600  # the database holds sealed secrets, events and personal data: readable by its owner only


def connect(path: Path) -> sqlite3.Connection:
    private_file(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def private_file(path: Path) -> None:
    """Create the database file owner-only, or make an existing one so; SQLite gives its -wal and -shm files the
    database file's mode."""
    if str(path) == ":memory:":
        return
    # never open an existing file here: closing any descriptor of it drops this process's SQLite locks (POSIX)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(FILE_MODE)


class Reader:
    """Runs read calls on one thread with its own connection (WAL: reads never wait for the writer)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self._path)
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(self._conn()))

    def close(self) -> None:
        def close_conn() -> None:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()

        self._executor.submit(close_conn).result()
        self._executor.shutdown(wait=True)


@dataclass(slots=True)
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    transaction: bool
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class Writer:
    """The one writer thread; `run(fn)` answers once the transaction holding `fn` is committed."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="sqlite-writer", daemon=True)
        self._started = False
        self._start_lock = threading.Lock()

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> T:
        with self._start_lock:
            if not self._started:
                self._thread.start()
                self._started = True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put(_Call(fn, transaction, future, loop))
        return await future

    def close(self) -> None:
        if self._started:
            self._calls.put(None)
            self._thread.join()

    def _work(self) -> None:
        conn = connect(self._path)
        try:
            while True:
                first = self._calls.get()
                if first is None:
                    return
                if not first.transaction:
                    self._settle([(first, *_outcome(first.fn, conn))])
                    continue
                group = [first]
                while len(group) < MAX_GROUP:
                    try:
                        call = self._calls.get_nowait()
                    except queue.Empty:
                        break
                    if call is None or not call.transaction:
                        self._calls.put(call)  # taken up after this group
                        break
                    group.append(call)
                self._settle(self._commit(conn, group))
        finally:
            conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection, group: list[_Call]) -> list[tuple[_Call, bool, Any]]:
        conn.execute("BEGIN IMMEDIATE")
        outcomes = []
        for call in group:
            conn.execute("SAVEPOINT call")
            ok, value = _outcome(call.fn, conn)
            if not ok:
                conn.execute("ROLLBACK TO call")
            conn.execute("RELEASE call")
            outcomes.append((call, ok, value))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(call, False, error) for call in group]
        return outcomes

    @staticmethod
    def _settle(outcomes: list[tuple[_Call, bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Call, bool, Any]]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, settled)


def _outcome(fn: Callable[[sqlite3.Connection], Any], conn: sqlite3.Connection) -> tuple[bool, Any]:
    try:
        return True, fn(conn)
    except Exception as error:
        return False, error


def _resolve(settled: list[tuple[_Call, bool, Any]]) -> None:
    for call, ok, value in settled:
        if call.future.done():
            continue
        if ok:
            call.future.set_result(value)
        else:
            call.future.set_exception(value)
