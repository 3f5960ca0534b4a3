"""RFC 3339 times at the edges; float epoch seconds inside."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from verihook.errors import InvalidInput


@functools.lru_cache(maxsize=8192)
def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339_or_none(at: float | None) -> str | None:
    return None if at is None else rfc3339(at)


def parse_time(value: str, field: str) -> float:
    """An RFC 3339 time (a zone is required) or seconds since the epoch."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as error:
        raise InvalidInput(f"{field} must be an RFC 3339 time such as 2026-01-31T12:00:00Z", field=field) from error
    if parsed.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone, e.g. 2026-01-31T12:00:00Z", field=field)
    return parsed.timestamp()
