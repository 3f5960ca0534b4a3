"""An endpoint's health settings, checked when given: `rate_limit_per_s` and `auto_disable`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verihook.errors import InvalidInput
from verihook.model import AutoDisable

MAX_RATE_LIMIT_PER_S = 10_000.0
MAX_FAILING_FOR_S = 365 * 24 * 3600
MAX_MIN_FAILURES = 1_000_000
_AUTO_DISABLE_LIMITS = {"failing_for_s": MAX_FAILING_FOR_S, "min_failures": MAX_MIN_FAILURES}


def rate_limit(value: Any) -> float | None:
    """At most this many requests a second to the endpoint; None: no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_RATE_LIMIT_PER_S:
        raise InvalidInput(f"rate_limit_per_s must be a number over 0 and at most {MAX_RATE_LIMIT_PER_S:g}, or "
                           "null for no limit", field="rate_limit_per_s")
    return float(value)


def auto_disable(value: Any) -> AutoDisable | None:
    """{"failing_for_s", "min_failures"}, both whole numbers within their limits; None: never disabled."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput('auto_disable must be {"failing_for_s": N, "min_failures": N} or null',
                           field="auto_disable")
    unknown = sorted(set(value) - set(_AUTO_DISABLE_LIMITS))
    if unknown:
        raise InvalidInput(f"unknown field 'auto_disable.{unknown[0]}'", field=f"auto_disable.{unknown[0]}")
    for name, most in _AUTO_DISABLE_LIMITS.items():
        number = value.get(name)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= most:
            raise InvalidInput(f"auto_disable.{name} must be a whole number from 1 to {most}",
                               field=f"auto_disable.{name}")
    return AutoDisable(failing_for_s=value["failing_for_s"], min_failures=value["min_failures"])
