"""The store's errors: which driver exceptions mean the store cannot be reached right now (the API answers 503,
not 500), and the errors both stores raise alike for a missing or duplicate row."""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]

from verihook.errors import Conflict, NotFound

UNAVAILABLE = (
    OSError,  # refused or reset connections, and timeouts
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
)


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, UNAVAILABLE):
        return True
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


class MissingRow(NotFound):
    """The row a call names, or one a written row refers to, does not exist (the same on every engine)."""


class DuplicateRow(Conflict):
    """A row with the same key exists already (the same on every engine)."""


def duplicate_row(table: str | None) -> DuplicateRow:
    return DuplicateRow(f"a row with this key exists already in {table or 'the store'}")


def dangling_row() -> MissingRow:
    return MissingRow("a row it refers to does not exist")
