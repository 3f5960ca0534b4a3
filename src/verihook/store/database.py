"""The connector each engine provides to the shared store: statements of store/queries.py, run one at a time or
as a unit in one transaction.

A unit is an `async def unit(tx)`. On PostgreSQL its awaits are real round trips; on SQLite every call of `tx`
completes at once, so the unit runs to its end on the thread that owns the connection (never awaiting anything
else). Both connectors raise the same errors for the same edge: `MissingRow`, `DuplicateRow`, `InvalidInput`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from verihook.store.dialect import Rows

T = TypeVar("T")
Row = Mapping[str, Any]  # sqlite3.Row and asyncpg.Record: read by column name or position


class Tx(Protocol):
    async def fetch_one(self, query: str, /, **params: Any) -> Any: ...
    async def fetch_all(self, query: str, /, **params: Any) -> Sequence[Any]: ...
    async def execute(self, query: str, /, **params: Any) -> int: ...  # the rows it changed
    async def insert_many(self, rows: Rows, values: Sequence[tuple[Any, ...]]) -> None: ...


Unit = Callable[[Tx], Awaitable[T]]


class Database(Tx, Protocol):
    """Statements on their own (each atomic by itself), and units: `read` sees one snapshot, `write` commits or
    undoes all of the unit."""

    async def read(self, unit: Unit[T]) -> T: ...
    async def write(self, unit: Unit[T]) -> T: ...
