"""store/dialect.checked_rows: a batch of rows is refused as its rows one by one would be."""

from __future__ import annotations

from typing import Any

import pytest

from verihook.errors import InvalidInput
from verihook.store.dialect import NUL_REFUSED, SURROGATE_REFUSED, checked_rows


@pytest.mark.parametrize(("rows", "refused"), [
    ([("a", 1, None, 2.5), ("é😀", "b")], None),
    ([("a", "b"), ("c", "d\x00")], NUL_REFUSED),
    ([("x\ud800",), ("a",)], SURROGATE_REFUSED),
    ([("é", "\x00")], NUL_REFUSED),
    ([], None),
])
def test_a_batch_is_refused_as_its_rows_are(rows: list[tuple[Any, ...]], refused: str | None) -> None:
    if refused is None:
        checked_rows(rows)
        return
    with pytest.raises(InvalidInput) as error:
        checked_rows(rows)
    assert error.value.detail == refused
