"""How many dispatcher processes `serve` runs: VERIHOOK_DISPATCHERS, and what a bad value gets."""

from __future__ import annotations

import os

import pytest

from verihook.config import Settings


def test_one_dispatcher_process_per_core_unless_told() -> None:
    assert Settings.from_env({}).dispatchers == (os.cpu_count() or 1)
    assert Settings.from_env({"VERIHOOK_DISPATCHERS": ""}).dispatchers == (os.cpu_count() or 1)
    assert Settings().dispatchers == (os.cpu_count() or 1)
    assert Settings.from_env({"VERIHOOK_DISPATCHERS": "0"}).dispatchers == 0  # one process, dispatcher inside
    assert Settings.from_env({"VERIHOOK_DISPATCHERS": " 3 "}).dispatchers == 3


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "2x"])
def test_a_count_that_is_not_a_whole_number_from_zero_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="VERIHOOK_DISPATCHERS must be a whole number"):
        Settings.from_env({"VERIHOOK_DISPATCHERS": value})
