"""verihook.times.rfc3339 against datetime's own text, and verihook.ids' base-36 digits."""

from __future__ import annotations

import math
import os
import random
import re
from datetime import UTC, datetime

import pytest

from verihook import ids
from verihook.times import rfc3339

AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def by_datetime(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize("at", [
    AT, AT + 0.0005, AT + 0.9995, AT + 0.9999995, AT - 0.0000004, AT + 59.9999996, 0.0, 1.5, -1.5, -0.0000004,
    4_102_444_800.123, math.nextafter(AT + 1, 0.0),
])
def test_rfc3339_writes_what_datetime_writes(at: float) -> None:
    assert rfc3339(at) == by_datetime(at)


def test_rfc3339_writes_what_datetime_writes_for_many_times() -> None:
    rng = random.Random(14)
    times = [AT + rng.uniform(-1e8, 1e8) for _ in range(20_000)]
    times += [AT + (k + 0.5) / 1e6 for k in range(0, 1_000_000, 97)]  # exactly half a microsecond: rounding
    assert [rfc3339(at) for at in times] == [by_datetime(at) for at in times]


def base36(number: int, width: int) -> str:
    digits = ""
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits


@pytest.mark.parametrize("number", [0, 1, 35, 36, 1295, 1296, 2**62 - 1, 1_767_225_600_000, 36**10 + 5])
def test_base36_digits(number: int) -> None:
    assert ids._base36(number, 10) == base36(number, 10)
    assert ids._base36(number, 12) == base36(number, 12)


def test_an_id_is_the_prefix_the_time_and_twelve_random_digits() -> None:
    made = [ids.new_id("evt") for _ in range(1000)]
    assert all(re.fullmatch(r"evt_[0-9a-z]{22}", made_id) for made_id in made)
    assert len(set(made)) == 1000 and made[0][4:14] <= made[-1][4:14]


def test_random_digits_are_every_base36_digit_and_a_forked_child_draws_its_own() -> None:
    digits = "".join(ids.new_id("evt")[-12:] for _ in range(3000))
    assert set(digits) == set("0123456789abcdefghijklmnopqrstuvwxyz")
    ids.new_id("evt")  # this thread's digits are drawn: a child must not take the next ones
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only writes its id
        os.write(write, ids.new_id("evt").encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    in_child = os.read(read, 100).decode()
    os.close(read)
    assert in_child[-12:] != ids.new_id("evt")[-12:]
