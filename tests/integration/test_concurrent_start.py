"""Processes starting together on a new SQLite file (the dispatchers of one `serve`, an `api` beside a `worker`),
here as threads released at once: each migration is applied once and every one uses the one secret key made."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from verihook.crypto import SecretBox, load_or_create_key_file
from verihook.store.sqlite import SqliteStore, migration_scripts

STARTS = 6
ROUNDS = 10


def test_processes_making_the_key_file_at_once_all_get_the_one_key(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        path = tmp_path / f"verihook-{round_}.db.key"
        barrier = threading.Barrier(STARTS)
        results: list[tuple[str, bool] | BaseException] = []

        def start(path: Path, barrier: threading.Barrier, results: list[tuple[str, bool] | BaseException]) -> None:
            barrier.wait()
            try:
                results.append(load_or_create_key_file(path))
            except BaseException as error:  # a FileExistsError, or an empty key read mid-write
                results.append(error)

        threads = [threading.Thread(target=start, args=(path, barrier, results)) for _ in range(STARTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(isinstance(r, tuple) for r in results), results
        keys = {r[0] for r in results if isinstance(r, tuple)}
        made = [r for r in results if isinstance(r, tuple) and r[1]]
        assert len(keys) == 1 and len(made) == 1, results
        assert keys == {path.read_text().strip()} and len(keys.pop()) > 20
        assert path.stat().st_mode & 0o777 == 0o600
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no drafts left


async def test_stores_migrating_a_new_file_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    versions = [version for version, _ in migration_scripts()]
    for round_ in range(ROUNDS):
        path = tmp_path / f"verihook-{round_}.db"
        stores = [SqliteStore(path, SecretBox("k")) for _ in range(STARTS)]
        try:
            applied = await asyncio.gather(*(store.migrate() for store in stores))
        finally:
            for store in stores:
                await store.close()
        assert sorted(v for one in applied for v in one) == versions, applied
        with sqlite3.connect(path) as conn:
            assert [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")] == versions


async def test_a_writer_waiting_for_another_process_writes_the_moment_that_one_commits(tmp_path: Path) -> None:
    """Another process's writer holds the file (its turn taken, a transaction open) for 180 ms; the store's write
    goes through right after that COMMIT, not after SQLite's next busy-handler sleep (which would come at 228 ms)."""
    hold_s = 0.18
    path = tmp_path / "verihook.db"
    store = SqliteStore(path, SecretBox("k"))
    await store.migrate()
    other = sqlite3.connect(path, isolation_level=None)
    turn = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT, 0o600)
    latencies = []
    try:
        for round_ in range(3):
            fcntl.flock(turn, fcntl.LOCK_EX)
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", (f"other-{round_}",))
            writing = asyncio.create_task(store.put_meta_if_absent(f"mine-{round_}", "y"))
            await asyncio.sleep(hold_s)
            assert not writing.done()
            other.execute("COMMIT")
            fcntl.flock(turn, fcntl.LOCK_UN)
            committed = time.perf_counter()
            await writing
            latencies.append(time.perf_counter() - committed)
    finally:
        other.close()
        os.close(turn)
        await store.close()
    assert min(latencies) < 0.02, latencies


async def test_a_writer_that_cannot_open_its_file_answers_with_the_error_instead_of_hanging(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "missing" / "verihook.db", SecretBox("k"))
    try:
        with pytest.raises(OSError):
            await asyncio.wait_for(store.migrate(), 10)
        (tmp_path / "missing").mkdir()
        assert await asyncio.wait_for(store.migrate(), 10)  # the next call connects again
    finally:
        await store.close()
