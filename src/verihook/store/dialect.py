"""How a statement written once (store/queries.py) reads in each engine's SQL, and its parameters bound.

Shared statements use three notations, which a dialect translates:

- `:name`, a parameter: `?` in SQLite, `$n` in PostgreSQL; a name may occur more than once;
- `IN :name[]`, membership in a list parameter: SQLite `IN (SELECT value FROM json_each(?))` bound to one JSON
  array (no limit on the number of host parameters), PostgreSQL `= ANY($n::text[])`;
- `{insertion_order}`, the column that orders a table's rows as they were inserted: SQLite's `rowid`,
  PostgreSQL's `id` identity.
- `{floor:x}`, the integer at or below a non-negative number `x` (no braces inside): SQLite `CAST(x AS INTEGER)`
  (which truncates), PostgreSQL `CAST(floor(x) AS BIGINT)` (its CAST rounds).

Batches of rows (`Rows`) are inserted with executemany in SQLite and with one statement over a JSON array in
PostgreSQL.
Every text value bound is checked the same way in both: NUL and lone surrogates are refused as invalid input
(PostgreSQL text cannot hold NUL; neither driver can encode a lone surrogate).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from verihook.errors import InvalidInput

NUL_REFUSED = "text must not contain NUL (\\u0000) characters"
SURROGATE_REFUSED = "text must be valid Unicode: no lone surrogates (\\ud800-\\udfff)"

# a list membership (group 1) or a parameter (group 2)
_PARAMETER = re.compile(r"\bIN :([a-z_][a-z0-9_]*)\[\]|(?<![:\w]):([a-z_][a-z0-9_]*)")
_FLOOR = re.compile(r"\{floor:([^{}]+)\}")


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows of one table written in one batch: the columns, each with its PostgreSQL type."""

    table: str
    columns: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def json_rows(self, values: Sequence[tuple[Any, ...]]) -> str:
        """`values` (tuples in column order) as the JSON array of objects PostgreSQL's insert reads."""
        names = self.names
        return orjson.dumps([dict(zip(names, row, strict=True)) for row in values]).decode()


@dataclass(frozen=True, slots=True)
class Compiled:
    sql: str
    names: tuple[str, ...]  # the parameter for each placeholder, in order
    lists: frozenset[str]


def checked_text(value: str) -> str:
    if "\x00" in value:
        raise InvalidInput(NUL_REFUSED)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidInput(SURROGATE_REFUSED) from None
    return value


def checked_rows(rows: Sequence[Sequence[Any]]) -> None:
    """checked_texts of every row: their texts scanned at once (ASCII without NUL: the usual batch), row by row
    only when one may be refused."""
    every_text = "".join([value for row in rows for value in row if isinstance(value, str)])
    if "\x00" in every_text or not every_text.isascii():
        for row in rows:
            checked_texts(row)


def checked_texts(values: Sequence[Any]) -> None:
    for value in values:
        if isinstance(value, str) and ("\x00" in value or not value.isascii()):  # else it is fine: no call
            checked_text(value)


class Dialect:
    name: str
    insertion_order: str

    def placeholder(self, index: int) -> str:
        raise NotImplementedError

    def in_list(self, index: int) -> str:
        raise NotImplementedError

    def list_value(self, values: Sequence[str]) -> Any:
        raise NotImplementedError

    def insert_many(self, rows: Rows) -> str:
        raise NotImplementedError

    def floor(self, expression: str) -> str:
        raise NotImplementedError

    def compile(self, text: str) -> Compiled:
        return _compile(self, text)

    def bind(self, text: str, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The engine's SQL for `text` and its arguments, in placeholder order; text values checked."""
        compiled = self.compile(text)
        args = []
        for name in compiled.names:
            value = params[name]
            if name in compiled.lists:
                checked_texts(value)
                value = self.list_value(value)
            elif isinstance(value, str):
                checked_text(value)
            elif isinstance(value, list):  # an array parameter of an engine's own statement
                checked_texts(value)
            args.append(value)
        return compiled.sql, tuple(args)


@lru_cache(maxsize=512)
def _compile(dialect: Dialect, text: str) -> Compiled:
    names: list[str] = []
    lists: set[str] = set()

    def number(name: str) -> int:
        """The placeholder number of `name` (1-based): a new one for each occurrence where `?` is positional."""
        if dialect.name == "postgres" and name in names:
            return names.index(name) + 1
        names.append(name)
        return len(names)

    def translate(match: re.Match[str]) -> str:
        if match[1] is not None:
            lists.add(match[1])
            return dialect.in_list(number(match[1]))
        return dialect.placeholder(number(match[2]))

    text = _FLOOR.sub(lambda match: dialect.floor(match[1]), text.replace("{insertion_order}", dialect.insertion_order))
    sql = _PARAMETER.sub(translate, text)
    return Compiled(sql, tuple(names), frozenset(lists))


class SqliteDialect(Dialect):
    name = "sqlite"
    insertion_order = "rowid"

    def placeholder(self, index: int) -> str:
        return "?"

    def in_list(self, index: int) -> str:
        return "IN (SELECT value FROM json_each(?))"

    def list_value(self, values: Sequence[str]) -> Any:
        return orjson.dumps(list(values)).decode()

    def insert_many(self, rows: Rows) -> str:
        return (f"INSERT INTO {rows.table} ({', '.join(rows.names)})"
                f" VALUES ({', '.join('?' for _ in rows.columns)})")

    def floor(self, expression: str) -> str:
        return f"CAST({expression} AS INTEGER)"


class PostgresDialect(Dialect):
    name = "postgres"
    insertion_order = "id"

    def placeholder(self, index: int) -> str:
        return f"${index}"

    def in_list(self, index: int) -> str:
        return f"= ANY(${index}::text[])"

    def list_value(self, values: Sequence[str]) -> Any:
        return list(values)

    def insert_many(self, rows: Rows) -> str:
        """One statement reading the rows from one JSON array of objects (`json_rows`): about half the client CPU
        of binding an array per column (asyncpg checks every element), the same time in all."""
        record = ", ".join(f"{name} {kind}" for name, kind in rows.columns)
        names = ", ".join(rows.names)
        return f"INSERT INTO {rows.table} ({names}) SELECT {names} FROM json_to_recordset($1::json) AS r({record})"

    def floor(self, expression: str) -> str:
        return f"CAST(floor({expression}) AS BIGINT)"


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
