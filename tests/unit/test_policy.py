from __future__ import annotations

import random
from email.utils import formatdate
from typing import Any

import pytest

from verihook.errors import InvalidInput
from verihook.policy import (
    MAX_DELAY_S,
    MAX_RETRY_AFTER_S,
    NO_RETRY,
    STANDARD_RETRY,
    SUCCESS_RULES,
    RetryPolicy,
    check_success_rule,
    declines,
    is_success,
    next_retry_delay,
    parse_retry_after,
)

SCHEDULE = RetryPolicy("schedule", delays_s=(5.0, 300.0, 1800.0))
EXPONENTIAL = RetryPolicy("exponential", initial_s=30.0, factor=2.5, max_attempts=5, max_delay_s=36000.0)
CAPPED = RetryPolicy("exponential", initial_s=10.0, factor=10.0, max_attempts=10, max_delay_s=500.0)
HUGE_FACTOR = RetryPolicy("exponential", initial_s=1.0, factor=1e300, max_attempts=50, max_delay_s=60.0)
ONE_IDENTICAL_RETRY = RetryPolicy("schedule", delays_s=(5.0,))


@pytest.mark.parametrize(
    ("policy", "attempts_made", "expected"),
    [
        (NO_RETRY, 1, None),
        (NO_RETRY, 2, None),
        (SCHEDULE, 1, 5.0),
        (SCHEDULE, 2, 300.0),
        (SCHEDULE, 3, 1800.0),
        (SCHEDULE, 4, None),
        (SCHEDULE, 10, None),
        (ONE_IDENTICAL_RETRY, 1, 5.0),
        (ONE_IDENTICAL_RETRY, 2, None),
        (RetryPolicy("schedule", delays_s=()), 1, None),
        (RetryPolicy("schedule", delays_s=(0.0,)), 1, 0.0),
        (EXPONENTIAL, 1, 30.0),
        (EXPONENTIAL, 2, 75.0),
        (EXPONENTIAL, 3, 187.5),
        (EXPONENTIAL, 4, 468.75),
        (EXPONENTIAL, 5, None),
        (CAPPED, 1, 10.0),
        (CAPPED, 2, 100.0),
        (CAPPED, 3, 500.0),
        (CAPPED, 9, 500.0),
        (CAPPED, 10, None),
        (HUGE_FACTOR, 49, 60.0),
        (RetryPolicy("exponential", max_attempts=1), 1, None),
    ],
)
def test_next_retry_delay(policy: RetryPolicy, attempts_made: int, expected: float | None) -> None:
    assert next_retry_delay(policy, attempts_made) == expected


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(NO_RETRY, 1), (SCHEDULE, 4), (ONE_IDENTICAL_RETRY, 2), (EXPONENTIAL, 5), (STANDARD_RETRY, 8)],
)
def test_max_attempts_total(policy: RetryPolicy, expected: int) -> None:
    assert policy.max_attempts_total == expected
    assert next_retry_delay(policy, expected) is None
    assert all(next_retry_delay(policy, n) is not None for n in range(1, expected))


def test_standard_retry_schedule() -> None:
    assert STANDARD_RETRY.delays_s == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert STANDARD_RETRY.jitter == 0.2


def test_attempts_made_must_be_positive() -> None:
    with pytest.raises(ValueError):
        next_retry_delay(SCHEDULE, 0)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("attempts_made", range(1, 8))
def test_jitter_bounds(seed: int, attempts_made: int) -> None:
    base = STANDARD_RETRY.delays_s[attempts_made - 1]
    delay = next_retry_delay(STANDARD_RETRY, attempts_made, rng=random.Random(seed))
    assert delay is not None
    assert base * 0.8 <= delay <= base * 1.2


def test_jitter_spreads_and_is_reproducible() -> None:
    policy = RetryPolicy("exponential", initial_s=100.0, jitter=0.5)
    delays = [next_retry_delay(policy, 1, rng=random.Random(seed)) for seed in range(50)]
    assert len(set(delays)) > 40
    assert all(d is not None and 50.0 <= d <= 150.0 for d in delays)
    assert next_retry_delay(policy, 1, rng=random.Random(7)) == next_retry_delay(
        policy, 1, rng=random.Random(7)
    )


CAPPED_JITTER = RetryPolicy("exponential", initial_s=10.0, factor=10.0, max_attempts=10, max_delay_s=500.0,
                            jitter=0.2)


class Extreme(random.Random):
    """A random source whose uniform(a, b) always answers a fixed point of the window (0: a, 1: b), or, with
    `outside`, a value beyond it, as a broken source might."""

    def __init__(self, at: float, outside: float | None = None) -> None:
        super().__init__(0)
        self.at = at
        self.outside = outside
        self.windows: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.windows.append((a, b))
        return self.outside if self.outside is not None else a + (b - a) * self.at


@pytest.mark.parametrize("seed", range(50))
@pytest.mark.parametrize("attempts_made", range(1, 10))
def test_jitter_never_pushes_a_delay_past_max_delay_s(seed: int, attempts_made: int) -> None:
    base = next_retry_delay(CAPPED, attempts_made)
    assert base is not None
    delay = next_retry_delay(CAPPED_JITTER, attempts_made, rng=random.Random(seed))
    assert delay is not None
    assert base * 0.8 <= delay <= min(base * 1.2, 500.0)


@pytest.mark.parametrize(
    ("attempts_made", "window"),
    [
        (1, (8.0, 12.0)),  # far below the cap: the full ±20 %
        (2, (80.0, 120.0)),
        (3, (400.0, 500.0)),  # 1000 s capped to 500 s: only the part of the window under the cap
        (9, (400.0, 500.0)),
    ],
)
def test_jitter_draws_in_the_window_cut_at_the_cap(attempts_made: int, window: tuple[float, float]) -> None:
    lowest, highest = Extreme(0.0), Extreme(1.0)
    assert next_retry_delay(CAPPED_JITTER, attempts_made, rng=lowest) == pytest.approx(window[0])
    assert next_retry_delay(CAPPED_JITTER, attempts_made, rng=highest) == pytest.approx(window[1])
    assert lowest.windows == highest.windows == [pytest.approx(window)]


def test_a_window_partly_over_the_cap_is_cut_at_it() -> None:
    policy = RetryPolicy("exponential", initial_s=450.0, max_delay_s=500.0, jitter=0.2)
    assert next_retry_delay(policy, 1, rng=Extreme(0.0)) == pytest.approx(360.0)
    assert next_retry_delay(policy, 1, rng=Extreme(1.0)) == 500.0


def test_delays_at_the_cap_still_spread_below_it() -> None:
    delays = [next_retry_delay(CAPPED_JITTER, 5, rng=random.Random(seed)) for seed in range(200)]
    assert all(d is not None and 400.0 <= d <= 500.0 for d in delays)
    assert len(set(delays)) == 200  # not half of them piled onto 500 s
    assert sum(d == 500.0 for d in delays) <= 1


@pytest.mark.parametrize("outside", [-1e9, -0.001, 500.0001, 1e12, float("inf")])
def test_a_random_source_out_of_its_window_is_still_held_in_0_and_the_cap(outside: float) -> None:
    delay = next_retry_delay(CAPPED_JITTER, 5, rng=Extreme(0.0, outside=outside))
    assert delay is not None and 0.0 <= delay <= 500.0


def test_schedule_jitter_stays_under_the_longest_allowed_delay() -> None:
    policy = RetryPolicy("schedule", delays_s=(MAX_DELAY_S,), jitter=0.5)
    assert next_retry_delay(policy, 1, rng=Extreme(1.0)) == MAX_DELAY_S
    assert next_retry_delay(policy, 1, rng=Extreme(0.0)) == MAX_DELAY_S * 0.5


def test_retry_after_may_still_lengthen_a_delay_past_the_cap() -> None:
    assert next_retry_delay(CAPPED_JITTER, 5, retry_after_s=3600.0, rng=Extreme(1.0)) == 3600.0


@pytest.mark.parametrize(
    ("policy", "attempts_made", "retry_after", "expected"),
    [
        (SCHEDULE, 1, 120.0, 120.0),  # longer than the policy delay: honoured
        (SCHEDULE, 2, 120.0, 300.0),  # shorter: the policy delay wins
        (SCHEDULE, 1, 0.0, 5.0),
        (SCHEDULE, 1, -30.0, 5.0),
        (SCHEDULE, 1, 10 * 24 * 3600.0, MAX_RETRY_AFTER_S),  # capped
        (SCHEDULE, 4, 60.0, None),  # exhausted: Retry-After creates no retry
        (NO_RETRY, 1, 60.0, None),
        (EXPONENTIAL, 5, 1.0, None),
        (EXPONENTIAL, 1, 3600.0, 3600.0),
    ],
)
def test_retry_after(
    policy: RetryPolicy, attempts_made: int, retry_after: float, expected: float | None
) -> None:
    assert next_retry_delay(policy, attempts_made, retry_after_s=retry_after) == expected


def test_max_retry_after_is_a_day() -> None:
    assert MAX_RETRY_AFTER_S == 24 * 3600


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("120", 120.0),
        ("  120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("99999999", 99999999.0),
        (formatdate(NOW + 90, usegmt=True), 90.0),  # IMF-fixdate
        (formatdate(NOW - 90, usegmt=True), 0.0),  # in the past
        ("Tue, 14 Nov 2023 22:14:20 GMT", 60.0),  # NOW is 22:13:20 UTC
        ("Tuesday, 14-Nov-23 22:14:20 GMT", 60.0),  # RFC 850
        ("Tue Nov 14 22:14:20 2023", 60.0),  # asctime
        ("", None),
        ("soon", None),
        ("12 seconds", None),
        ("1e3", None),
        ("inf", None),
        ("nan", None),
        ("Tue, 99 Nov 2023 22:14:20 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("rule", "status_code", "content_type", "expected"),
    [
        ("2xx", 200, None, True),
        ("2xx", 201, "text/plain", True),
        ("2xx", 204, None, True),
        ("2xx", 299, None, True),
        ("2xx", 199, None, False),
        ("2xx", 300, None, False),
        ("2xx", 302, None, False),
        ("2xx", 410, None, False),
        ("2xx", 500, "application/json", False),
        ("200", 200, None, True),
        ("200", 200, "text/html", True),
        ("200", 201, None, False),
        ("200", 204, None, False),
        ("200", 500, None, False),
        ("200-json-or-204", 200, "application/json", True),
        ("200-json-or-204", 200, "application/json; charset=utf-8", True),
        ("200-json-or-204", 200, "Application/JSON;Charset=UTF-8", True),
        ("200-json-or-204", 200, "  application/json  ", True),
        ("200-json-or-204", 200, "application/problem+json", True),
        ("200-json-or-204", 200, "application/vnd.api+json; charset=utf-8", True),
        ("200-json-or-204", 200, "text/plain", False),
        ("200-json-or-204", 200, "text/html; charset=utf-8", False),
        ("200-json-or-204", 200, "application/jsonp", False),
        ("200-json-or-204", 200, "+json", False),
        ("200-json-or-204", 200, "", False),
        ("200-json-or-204", 200, None, False),
        ("200-json-or-204", 204, None, True),
        ("200-json-or-204", 204, "text/plain", True),
        ("200-json-or-204", 201, "application/json", False),
        ("200-json-or-204", 202, "application/json", False),
        ("200-json-or-204", 500, "application/json", False),
    ],
)
def test_is_success(rule: str, status_code: int, content_type: str | None, expected: bool) -> None:
    assert is_success(rule, status_code, content_type) is expected


def test_success_rules() -> None:
    assert SUCCESS_RULES == ("2xx", "200", "200-json-or-204")
    with pytest.raises(ValueError):
        is_success("3xx", 200, None)


@pytest.mark.parametrize("value", SUCCESS_RULES)
def test_check_success_rule_accepts(value: str) -> None:
    assert check_success_rule(value) == value


@pytest.mark.parametrize("value", ["3xx", "", None, 200, "2XX"])
def test_check_success_rule_refuses(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        check_success_rule(value)
    assert info.value.field == "success"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"strategy": "none"}, NO_RETRY),
        (
            {"strategy": "schedule", "delays_s": [5, 300, 1800], "jitter": 0.2},
            RetryPolicy("schedule", delays_s=(5.0, 300.0, 1800.0), jitter=0.2),
        ),
        ({"strategy": "schedule", "delays_s": [5]}, ONE_IDENTICAL_RETRY),
        ({"strategy": "schedule", "delays_s": []}, RetryPolicy("schedule")),
        (
            {
                "strategy": "exponential",
                "initial_s": 30,
                "factor": 2.5,
                "max_attempts": 5,
                "max_delay_s": 36000,
                "jitter": 0,
            },
            EXPONENTIAL,
        ),
        ({"strategy": "exponential"}, RetryPolicy("exponential")),
        ({"strategy": "exponential", "factor": 1}, RetryPolicy("exponential", factor=1.0)),
    ],
)
def test_from_dict(data: dict[str, Any], expected: RetryPolicy) -> None:
    policy = RetryPolicy.from_dict(data)
    assert policy == expected
    assert RetryPolicy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (NO_RETRY, {"strategy": "none"}),
        (SCHEDULE, {"strategy": "schedule", "delays_s": [5, 300, 1800], "jitter": 0}),
        (
            RetryPolicy("schedule", delays_s=(0.5,), jitter=0.2),
            {"strategy": "schedule", "delays_s": [0.5], "jitter": 0.2},
        ),
        (
            EXPONENTIAL,
            {
                "strategy": "exponential",
                "initial_s": 30,
                "factor": 2.5,
                "max_attempts": 5,
                "max_delay_s": 36000,
                "jitter": 0,
            },
        ),
    ],
)
def test_to_dict(policy: RetryPolicy, expected: dict[str, Any]) -> None:
    assert policy.to_dict() == expected
    assert RetryPolicy.from_dict(expected) == policy


def test_standard_retry_round_trips() -> None:
    assert RetryPolicy.from_dict(STANDARD_RETRY.to_dict()) == STANDARD_RETRY


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "retry.strategy"),
        ({"strategy": "linear"}, "retry.strategy"),
        ({"strategy": None}, "retry.strategy"),
        ({"strategy": "none", "delays_s": [5]}, "retry.delays_s"),
        ({"strategy": "none", "colour": "red"}, "retry.colour"),
        ({"strategy": "schedule"}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": 5}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": "5,10"}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": [5, -1]}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": [5, "10"]}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": [True]}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": [float("nan")]}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": [float("inf")]}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": [1e12]}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": [1] * 51}, "retry.delays_s"),
        ({"strategy": "schedule", "delays_s": [5], "jitter": 1}, "retry.jitter"),
        ({"strategy": "schedule", "delays_s": [5], "jitter": -0.1}, "retry.jitter"),
        ({"strategy": "schedule", "delays_s": [5], "jitter": "0.2"}, "retry.jitter"),
        ({"strategy": "schedule", "delays_s": [5], "factor": 2}, "retry.factor"),
        ({"strategy": "exponential", "factor": 0.5}, "retry.factor"),
        ({"strategy": "exponential", "factor": "2"}, "retry.factor"),
        ({"strategy": "exponential", "initial_s": 0}, "retry.initial_s"),
        ({"strategy": "exponential", "initial_s": -3}, "retry.initial_s"),
        ({"strategy": "exponential", "max_attempts": 0}, "retry.max_attempts"),
        ({"strategy": "exponential", "max_attempts": 51}, "retry.max_attempts"),
        ({"strategy": "exponential", "max_attempts": 2.5}, "retry.max_attempts"),
        ({"strategy": "exponential", "max_attempts": True}, "retry.max_attempts"),
        ({"strategy": "exponential", "max_delay_s": 0}, "retry.max_delay_s"),
        ({"strategy": "exponential", "jitter": 1.5}, "retry.jitter"),
        ({"strategy": "exponential", "delays_s": [5]}, "retry.delays_s"),
    ],
)
def test_from_dict_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        RetryPolicy.from_dict(data)
    assert info.value.field == field
    assert field in info.value.detail


def test_from_dict_refuses_a_non_object() -> None:
    with pytest.raises(InvalidInput) as info:
        RetryPolicy.from_dict([5, 10])  # type: ignore[arg-type]
    assert info.value.field == "retry"


@pytest.mark.parametrize(
    ("rule", "status_code", "content_type", "body", "expected"),
    [
        ("200-json-or-204", 200, "application/json", b'{"success": false}', True),
        ("200-json-or-204", 200, "application/json; charset=utf-8", b'{"success":false,"why":"x"}', True),
        ("200-json-or-204", 200, "application/json", b'{"success": true}', False),
        ("200-json-or-204", 200, "application/json", b'{"success": 0}', False),
        ("200-json-or-204", 200, "application/json", b'{"success": "false"}', False),
        ("200-json-or-204", 200, "application/json", b'[{"success": false}]', False),
        ("200-json-or-204", 200, "application/json", b'{"success": fal', False),
        ("200-json-or-204", 200, "text/plain", b'{"success": false}', False),
        ("200-json-or-204", 204, None, b"", False),
        ("200-json-or-204", 500, "application/json", b'{"success": false}', False),
        ("2xx", 200, "application/json", b'{"success": false}', False),
        ("200", 200, "application/json", b'{"success": false}', False),
    ],
)
def test_declines(rule: str, status_code: int, content_type: str | None, body: bytes, expected: bool) -> None:
    assert declines(rule, status_code, content_type, body) is expected
