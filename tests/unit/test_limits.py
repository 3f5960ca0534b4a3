"""verihook.limits, table-driven: what is refused, and where it is named."""

from __future__ import annotations

from typing import Any

import pytest

from verihook import limits
from verihook.errors import InvalidInput


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(("value", "found"), [
    (deep(limits.MAX_DEPTH), None),
    (deep(limits.MAX_DEPTH + 1), ("data", f"nests deeper than {limits.MAX_DEPTH} levels of arrays and objects")),
    ({"a": 2**63 - 1, "b": -(2**63)}, None),
    ({"a": [0, 2**63]}, ("data.a[1]", "integers must be within signed 64 bits "
                                      "(-9223372036854775808 to 9223372036854775807)")),
    ({"a": float("nan")}, ("data.a", "numbers must be finite (no NaN or Infinity)")),
    ({"a": -float("inf")}, ("data.a", "numbers must be finite (no NaN or Infinity)")),
    ({"a": 1.7976931348623157e308, "b": True, "c": None}, None),
    ({"a": "x\ud800"}, ("data.a", "a string must be valid Unicode (a lone surrogate such as \\ud800 is not)")),
    ({"\udc00": 1}, ("data.\\udc00", "a key must be valid Unicode (a lone surrogate such as \\ud800 is not)")),
    ({"a": "é😀"}, None),
    ({"a": {"b": "x\x00"}}, ("data.a.b", "NUL characters are not allowed")),
])
def test_find_violation(value: Any, found: tuple[str, str] | None) -> None:
    assert limits.find_violation(value, "data") == found


@pytest.mark.parametrize(("raw", "value"), [
    (b'{"a": 1}', {"a": 1}),
    (b'{"a": 9223372036854775808}', {"a": 9223372036854775808}),  # read exactly, to be refused by its field
    (b'{"a": 18446744073709551616}', {"a": 18446744073709551616}),  # orjson alone would round it to a float
    (b'{"id": "1234567890123456789012"}', {"id": "1234567890123456789012"}),
])
def test_parse_body_reads_numbers_exactly(raw: bytes, value: Any) -> None:
    assert limits.parse_body(raw) == value


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b'{"a": 1', b"[" * 2000 + b"]" * 2000, b"", b'{"a": 01}'])
def test_parse_body_refuses_what_is_not_json(raw: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        limits.parse_body(raw)
    assert refused.value.field == "body" and "not valid JSON" in refused.value.detail


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e400}', b'{"a": "\\ud800"}'])
def test_parse_body_reads_what_a_field_check_names(raw: bytes) -> None:
    """Not standard JSON, but readable: it is read so that the field check names the field."""
    value = limits.parse_body(raw)
    assert limits.find_violation(value["a"], "a") is not None


@pytest.mark.parametrize("value", [
    {"a": [1, {"b": "c", "d": [2.5, None, True]}], "é": "😀"},
    {"a": "x\x00"}, {"a\x00": 1}, {"a": ["x\ud800"]}, {"\ud800": 1}, {1: "a"}, ("a", 2**64), [float("inf")],
    deep(limits.MAX_DEPTH), deep(limits.MAX_DEPTH + 1), {"a": deep(limits.MAX_DEPTH)}, "plain", 2**63, -(2**63),
    type("Text", (str,), {})("sub\x00class"),
])
def test_the_quick_walk_never_passes_what_the_full_walk_refuses(value: Any) -> None:
    """limits.within: True only where find_violation (the walk that names the field) finds nothing."""
    full = limits._walk(value, "data", 0, "data", limits.MAX_DEPTH)
    assert limits.find_violation(value, "data") == full
    if limits.within(value):
        assert full is None


@pytest.mark.parametrize(("raw", "long"), [
    (b'{"a": 123456789012345678}', False), (b'{"a": 1234567890123456789}', True),
    (b'{"a": "' + b"9" * 18 + b'"}', False),
    (b"1234567890 1234567890", False), (b"x" + b"0" * 40 + b"x", True), (b"", False),
])
def test_long_digits_are_a_run_of_19(raw: bytes, long: bool) -> None:
    assert limits.has_long_digits(raw) is long
