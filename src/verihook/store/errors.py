"""Which exceptions mean the store cannot be reached right now (the API answers 503, not 500)."""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]

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
