"""RFC 3339 times at the edges; float epoch seconds inside."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from verihook.errors import InvalidInput


def rfc3339(at: float) -> str:
    """`datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")` with `Z`, the same to the millisecond
    (microseconds rounded half to even, then cut to milliseconds, as datetime does) with one datetime per second
    instead of one per call: every event of a batch answer has its own time."""
    global _last
    last = _last
    if at == last[0]:  # an event's time, then its new delivery's (the same)
        return last[1]
    fraction, whole = math.modf(at)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1.0
    elif micros < 0:
        micros += 1_000_000
        whole -= 1.0
    second = int(whole)
    text = (_seconds.get(second) or _second(second)) + _MILLISECONDS[micros // 1000]
    _last = (at, text)
    return text


_last: tuple[float, str] = (math.nan, "")  # one tuple: threads read a pair that belongs together
_seconds: dict[int, str] = {}
_MILLISECONDS = [f".{millis:03d}Z" for millis in range(1000)]


def _second(second: int) -> str:
    """`2026-01-31T12:00:00`, remembered (a process writes times of a few seconds at a time)."""
    if len(_seconds) >= 4096:
        _seconds.clear()
    text = _seconds[second] = datetime.fromtimestamp(second, UTC).isoformat()[:19]
    return text


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
