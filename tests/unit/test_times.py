"""rfc3339 writes every time as datetime's isoformat does (its seconds are cached, its milliseconds computed)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from verihook.times import rfc3339


def isoformat(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


EDGES = [0.0, 1e-7, 5e-7, 1.5e-6, 2.5e-6, -5e-7, -0.5, -1.0000004, 1.5, 2.5, 1733400000.0, 1733400000.123456,
         1733400000.9995, 1733400000.9999994, 1733400000.9999995, 1733400000.0000005, 253402300799.9994]


@pytest.mark.parametrize("at", EDGES)
def test_edges_read_as_isoformat_writes_them(at: float) -> None:
    assert rfc3339(at) == isoformat(at)


def test_many_times_read_as_isoformat_writes_them() -> None:
    draw = random.Random(14)
    for _ in range(50_000):
        at = draw.choice([draw.uniform(0, 4e9), draw.uniform(-1e9, 0), float(draw.randint(0, 4_000_000_000))])
        at += draw.choice([0.0, draw.random(), 0.9995, 0.0005, 0.9999995, 5e-7, draw.randint(0, 999_999) / 1e6 + 5e-7])
        assert rfc3339(at) == isoformat(at), at


@pytest.mark.parametrize(("at", "error"), [(float("nan"), ValueError), (float("inf"), OverflowError),
                                           (1e20, OverflowError)])
def test_what_isoformat_refuses_is_refused(at: float, error: type[Exception]) -> None:
    with pytest.raises(error):
        isoformat(at)
    with pytest.raises(error):
        rfc3339(at)
