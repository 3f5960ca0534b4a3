"""Retry schedules and success rules: pure functions, no I/O.

A retry policy answers one question: after the n-th failed attempt of a delivery cycle, how long to wait
before the next one, or whether to stop. A success rule decides whether a receiver's answer counts as
delivered.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Literal, get_args

import orjson

from verihook.errors import InvalidInput

MAX_RETRY_AFTER_S = 24 * 3600.0  # a receiver's Retry-After is honoured up to this
MAX_DELAY_S = 30 * 24 * 3600.0  # no single configured delay may exceed this
MAX_ATTEMPTS = 50  # per delivery cycle, including the first attempt

Strategy = Literal["none", "schedule", "exponential"]
SuccessRule = Literal["2xx", "200", "200-json-or-204"]
SUCCESS_RULES: tuple[str, ...] = get_args(SuccessRule)

_KEYS: dict[str, frozenset[str]] = {
    "none": frozenset({"strategy"}),
    "schedule": frozenset({"strategy", "delays_s", "jitter"}),
    "exponential": frozenset({"strategy", "initial_s", "factor", "max_attempts", "max_delay_s", "jitter"}),
}
_DELTA_SECONDS = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _invalid(name: str, detail: str) -> InvalidInput:
    return InvalidInput(f"retry.{name}: {detail}", field=f"retry.{name}")


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(name, f"must be a finite number, got {value!r}")
    return float(value)


def _json_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    strategy: Strategy
    delays_s: tuple[float, ...] = ()  # schedule: the delay after attempt 1, 2, ...
    initial_s: float = 30.0  # exponential: the delay after attempt 1
    factor: float = 2.0
    max_attempts: int = 5  # exponential: total attempts including the first
    max_delay_s: float = 36000.0
    jitter: float = 0.0  # 0.2: each delay is multiplied by uniform(0.8, 1.2), cut at the cap (max_delay_s)

    def __post_init__(self) -> None:
        if self.strategy not in _KEYS:
            raise _invalid("strategy", f"must be one of {', '.join(_KEYS)}, got {self.strategy!r}")
        if len(self.delays_s) > MAX_ATTEMPTS:
            raise _invalid("delays_s", f"at most {MAX_ATTEMPTS} delays")
        for delay in self.delays_s:
            if not 0 <= delay <= MAX_DELAY_S:
                raise _invalid("delays_s", f"each delay must be in [0, {MAX_DELAY_S:g}] s, got {delay!r}")
        if not 0 < self.initial_s <= MAX_DELAY_S:
            raise _invalid("initial_s", f"must be > 0 and <= {MAX_DELAY_S:g} s, got {self.initial_s!r}")
        if not self.factor >= 1:
            raise _invalid("factor", f"must be >= 1, got {self.factor!r}")
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            raise _invalid("max_attempts", f"must be between 1 and {MAX_ATTEMPTS}, got {self.max_attempts!r}")
        if not 0 < self.max_delay_s <= MAX_DELAY_S:
            raise _invalid("max_delay_s", f"must be > 0 and <= {MAX_DELAY_S:g} s, got {self.max_delay_s!r}")
        if not 0 <= self.jitter < 1:
            raise _invalid("jitter", f"must be >= 0 and < 1, got {self.jitter!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RetryPolicy:
        """Parse the API's JSON shape; raises InvalidInput naming the field (``retry.<name>``)."""
        if not isinstance(d, Mapping):
            raise InvalidInput("retry: must be an object", field="retry")
        strategy = d.get("strategy")
        if strategy not in _KEYS:
            raise _invalid("strategy", f"must be one of {', '.join(_KEYS)}, got {strategy!r}")
        for key in d:
            if key not in _KEYS[strategy]:
                raise _invalid(str(key), f"unknown key for strategy {strategy!r}")
        if strategy == "none":
            return cls("none")
        jitter = _number("jitter", d.get("jitter", 0.0))
        if strategy == "schedule":
            if "delays_s" not in d:
                raise _invalid("delays_s", "is required for strategy 'schedule'")
            raw = d["delays_s"]
            if not isinstance(raw, list | tuple):
                raise _invalid("delays_s", "must be a list of numbers")
            delays = tuple(_number("delays_s", x) for x in raw)
            return cls("schedule", delays_s=delays, jitter=jitter)
        max_attempts = d.get("max_attempts", 5)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise _invalid("max_attempts", f"must be an integer, got {max_attempts!r}")
        return cls(
            "exponential",
            initial_s=_number("initial_s", d.get("initial_s", 30.0)),
            factor=_number("factor", d.get("factor", 2.0)),
            max_attempts=max_attempts,
            max_delay_s=_number("max_delay_s", d.get("max_delay_s", 36000.0)),
            jitter=jitter,
        )

    def to_dict(self) -> dict[str, Any]:
        if self.strategy == "none":
            return {"strategy": "none"}
        if self.strategy == "schedule":
            return {
                "strategy": "schedule",
                "delays_s": [_json_number(x) for x in self.delays_s],
                "jitter": _json_number(self.jitter),
            }
        return {
            "strategy": "exponential",
            "initial_s": _json_number(self.initial_s),
            "factor": _json_number(self.factor),
            "max_attempts": self.max_attempts,
            "max_delay_s": _json_number(self.max_delay_s),
            "jitter": _json_number(self.jitter),
        }

    @property
    def max_attempts_total(self) -> int:
        if self.strategy == "none":
            return 1
        if self.strategy == "schedule":
            return len(self.delays_s) + 1
        return self.max_attempts


STANDARD_RETRY = RetryPolicy(
    "schedule", delays_s=(5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0), jitter=0.2
)
NO_RETRY = RetryPolicy("none")


def _policy_delay(policy: RetryPolicy, attempts_made: int) -> float | None:
    if policy.strategy == "schedule":
        return policy.delays_s[attempts_made - 1] if attempts_made <= len(policy.delays_s) else None
    if policy.strategy == "exponential" and attempts_made < policy.max_attempts:
        try:
            delay = policy.initial_s * policy.factor ** (attempts_made - 1)
        except OverflowError:
            delay = math.inf
        return min(delay, policy.max_delay_s)
    return None


def _delay_cap(policy: RetryPolicy) -> float:
    return policy.max_delay_s if policy.strategy == "exponential" else MAX_DELAY_S


def _jittered(delay: float, jitter: float, cap: float, rng: random.Random | None) -> float:
    """`delay` spread uniformly over ±`jitter` of itself, the window cut at `cap` and at 0.

    The draw is made in the window already cut (not clamped afterwards), so delays at the cap still spread
    below it instead of half of them landing on the cap together.
    """
    uniform = rng.uniform if rng is not None else random.uniform
    low = max(delay * (1 - jitter), 0.0)
    high = min(delay * (1 + jitter), cap)
    return min(max(uniform(low, high), 0.0), cap)  # and clamped: uniform() may round past an end point


def next_retry_delay(
    policy: RetryPolicy,
    attempts_made: int,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait before the next attempt, or None when the cycle is exhausted.

    ``attempts_made`` counts this cycle's attempts so far, including the one that just failed. Jitter never
    takes a delay past the policy's cap (``max_delay_s``; MAX_DELAY_S for a schedule). A receiver's
    ``Retry-After`` (capped at MAX_RETRY_AFTER_S) can lengthen a delay, past that cap too, but never create a retry.
    """
    if attempts_made < 1:
        raise ValueError(f"attempts_made must be >= 1, got {attempts_made}")
    delay = _policy_delay(policy, attempts_made)
    if delay is None:
        return None
    if policy.jitter:
        delay = _jittered(delay, policy.jitter, _delay_cap(policy), rng)
    if retry_after_s is not None:
        delay = max(delay, min(max(retry_after_s, 0.0), MAX_RETRY_AFTER_S))
    return delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header (delta-seconds or HTTP-date, RFC 9110) as seconds from ``now``.

    None when absent or unparseable; a negative delay or a past date gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return max(float(value), 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime form: HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now, 0.0)


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or any ``+json`` type, ignoring parameters and case."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or ("/" in media and media.endswith("+json"))


def is_success(rule: str, status_code: int, content_type: str | None) -> bool:
    if rule == "2xx":
        return 200 <= status_code < 300
    if rule == "200":
        return status_code == 200
    if rule == "200-json-or-204":
        return status_code == 204 or (status_code == 200 and is_json_media_type(content_type))
    raise ValueError(f"unknown success rule {rule!r}; expected one of {', '.join(SUCCESS_RULES)}")


def declines(rule: str, status_code: int, content_type: str | None, body: bytes) -> bool:
    """A 200 JSON answer whose body is an object with `"success": false`: under Incode's rule the receiver says it
    did not take the notification. Not a success, and not one of the seed's retry triggers."""
    if rule != "200-json-or-204" or status_code != 200 or b"success" not in body \
            or not is_json_media_type(content_type):
        return False
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(answer, dict) and answer.get("success") is False


def check_success_rule(value: object, field: str = "success") -> SuccessRule:
    """Validate an API value as a success rule; raises InvalidInput naming the field."""
    if value not in SUCCESS_RULES:
        raise InvalidInput(f"{field}: must be one of {', '.join(SUCCESS_RULES)}, got {value!r}", field=field)
    return value  # type: ignore[return-value]
