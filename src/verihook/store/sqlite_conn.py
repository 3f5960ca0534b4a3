"""SQLite connections, each owned by one thread: a reader, and a writer that commits queued calls in groups; and
the connector that runs the shared statements on them (SqliteDatabase).

Group commit: while the writer thread runs one transaction, the write calls that arrive queue up; it then runs
all of them in one `BEGIN IMMEDIATE ... COMMIT`, each inside its own savepoint (a call that fails is undone
alone), and answers every caller only after the COMMIT. One fsync then covers many publishes, claims and
outcome batches, and nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from verihook.store.database import Unit
from verihook.store.dialect import SQLITE, Rows, checked_rows
from verihook.store.errors import dangling_row, duplicate_row

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
MAX_GROUP = 128  # write calls in one transaction at the most


FILE_MODE = 0o600  # the database holds sealed secrets, events and personal data: readable by its owner only


def connect(path: Path) -> sqlite3.Connection:
    private_file(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode. Connections of processes opening a new file together can find it locked while
    another switches it, and SQLite then answers at once instead of waiting its busy timeout: try again."""
    give_up_at = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > give_up_at:
                raise
            time.sleep(0.005)


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


class WriterTurn:
    """The turn to write, taken in the kernel by the writer of every process on one file (`flock` on
    `<file>-writer`) around each transaction.

    SQLite alone makes a writer that finds the file locked sleep and try again (1, 2, 5, 10 ... 100 ms): with the
    dispatcher processes of one `serve` committing many small groups, each waited about a third of a drain that
    way. Waiting here, it is woken the moment the other's COMMIT is done. SQLite's own lock still guards the file
    (another program's writer waits as before).
    """

    def __init__(self, path: Path) -> None:
        self._fd = -1 if str(path) == ":memory:" else os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT, FILE_MODE)

    def __enter__(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


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
        conn: sqlite3.Connection | None = None
        turn: WriterTurn | None = None
        try:
            while True:
                first = self._calls.get()
                if first is None:
                    return
                if conn is None or turn is None:
                    try:
                        conn = connect(self._path)
                        turn = WriterTurn(self._path)
                    except Exception as error:  # answered, not left waiting: the next call connects again
                        if conn is not None:
                            conn.close()
                            conn = None
                        self._settle([(first, False, error)])
                        continue
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
                with turn:
                    outcomes = self._commit(conn, group)
                self._settle(outcomes)
        finally:
            if conn is not None:
                conn.close()
            if turn is not None:
                turn.close()

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


def run_to_end(unit: Awaitable[T]) -> T:
    """Run a unit of work whose every await completes at once (the SQLite `Tx`'s) on this thread, to its end."""
    steps = unit.__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    steps.close()
    raise RuntimeError("a unit of work on SQLite awaited something other than its connection")


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """The driver's constraint errors as the errors both stores raise."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        message = str(error)
        if message.startswith("UNIQUE constraint failed: "):
            raise duplicate_row(message.removeprefix("UNIQUE constraint failed: ").split(".")[0]) from error
        if message.startswith("FOREIGN KEY constraint failed"):
            raise dangling_row() from error
        raise


class SqliteTx:
    """Statements of store/queries.py on one connection, on the thread that owns it."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch_one(self, query: str, /, **params: Any) -> Any:
        return self._conn.execute(*SQLITE.bind(query, params)).fetchone()

    async def fetch_all(self, query: str, /, **params: Any) -> list[Any]:
        return self._conn.execute(*SQLITE.bind(query, params)).fetchall()

    async def execute(self, query: str, /, **params: Any) -> int:
        return self._conn.execute(*SQLITE.bind(query, params)).rowcount

    async def insert_many(self, rows: Rows, values: Sequence[tuple[Any, ...]]) -> None:
        checked_rows(values)
        self._conn.executemany(SQLITE.insert_many(rows), values)


class SqliteDatabase:
    """The SQLite connector: reads on the reader thread, writes through the group-committing writer."""

    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def fetch_one(self, query: str, /, **params: Any) -> Any:
        sql, args = SQLITE.bind(query, params)
        return await self._reader.run(lambda conn: conn.execute(sql, args).fetchone())

    async def fetch_all(self, query: str, /, **params: Any) -> list[Any]:
        sql, args = SQLITE.bind(query, params)
        return await self._reader.run(lambda conn: conn.execute(sql, args).fetchall())

    async def execute(self, query: str, /, **params: Any) -> int:
        sql, args = SQLITE.bind(query, params)
        with translated():
            return await self._writer.run(lambda conn: conn.execute(sql, args).rowcount)

    async def insert_many(self, rows: Rows, values: Sequence[tuple[Any, ...]]) -> None:
        await self.write(lambda tx: tx.insert_many(rows, values))

    async def read(self, unit: Unit[T]) -> T:
        def in_snapshot(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return run_to_end(unit(SqliteTx(conn)))
            finally:
                conn.execute("COMMIT")

        return await self._reader.run(in_snapshot)

    async def write(self, unit: Unit[T]) -> T:
        with translated():
            return await self._writer.run(lambda conn: run_to_end(unit(SqliteTx(conn))))
