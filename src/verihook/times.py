"""RFC 3339 times at the edges; float epoch seconds inside."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from verihook.errors import InvalidInput

_SECONDS_KEPT = 4096
_seconds: dict[int, str] = {}  # whole seconds since the epoch -> "YYYY-MM-DDTHH:MM:SS"


def rfc3339(at: float) -> str:
    """`at` as `datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")` writes it, with `Z`.

    Every delivery's body carries its event's time: the date and time of day are kept per whole second (events
    come in bursts of the same seconds), and the milliseconds are rounded as `fromtimestamp` rounds (to the
    microsecond, half to even) and then cut as `isoformat` cuts them."""
    if not math.isfinite(at):
        return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")  # raises as it always did
    fraction, whole = math.modf(at)
    micros = round(fraction * 1e6)
    seconds = int(whole)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    elif micros < 0:
        seconds, micros = seconds - 1, micros + 1_000_000
    prefix = _seconds.get(seconds)
    if prefix is None:
        if len(_seconds) >= _SECONDS_KEPT:
            _seconds.clear()
        prefix = _seconds[seconds] = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")[:-6]
    return f"{prefix}.{micros // 1000:03d}Z"


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
