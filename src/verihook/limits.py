"""What a client may give Verihook as JSON, in one place; pure, no I/O.

Every value of every request body is held to these limits before it is validated, stored or sent, so that what
is accepted can always be stored by both stores, read back through every route and rendered into a webhook body:

- a body is standard JSON (RFC 8259) in UTF-8: no NaN or Infinity, no number that overflows a double, no lone
  surrogate in a string or a key, no invalid UTF-8 (`parse_body`);
- a field's value nests at most MAX_DEPTH arrays and objects deep (`{"a": 1}` is 1 deep);
- integers are within signed 64 bits, other numbers finite;
- no string or key holds NUL (PostgreSQL cannot store it as text).

The body size is held to VERIHOOK_MAX_BODY_BYTES (1 MiB by default) before this (api/problems.BodyLimit).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from verihook.errors import InvalidInput

MAX_DEPTH = 64  # orjson renders up to 255 levels: the routes' envelopes and a profile's body add a few
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1

# orjson reads an integer beyond 64 bits as a float (silently rounded); a body with such a long run of digits is
# read again exactly, so the integer is refused rather than changed. The run is looked for with two C passes (every
# digit made "0", anything else " "; then a substring search): a regular expression took 2 µs per event of a batch.
_LONG_DIGITS_RUN = 19
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN_OF_ZEROS = b"0" * _LONG_DIGITS_RUN


def parse_body(raw: bytes) -> Any:
    """The JSON value of a request body; raises InvalidInput(field="body") when it is not standard JSON.

    What orjson refuses but the standard library reads (NaN, Infinity, 1e400, a lone surrogate) is read so, to be
    refused by `find_violation` naming its field; an integer beyond 64 bits (which orjson reads as a rounded float)
    is read exactly the same way."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        exact = _exactly(raw)
        if exact is _UNREADABLE or find_violation(exact, "", max_depth=4 * MAX_DEPTH) is None:
            raise InvalidInput(f"the body is not valid JSON: {error}", field="body") from None
        return exact
    if has_long_digits(raw):
        exact = _exactly(raw)
        return value if exact is _UNREADABLE else exact
    return value


def has_long_digits(raw: bytes) -> bool:
    """Whether `raw` holds a run of 19 digits or more (an integer that may not fit in 64 bits)."""
    return _LONG_RUN_OF_ZEROS in raw.translate(_DIGITS_AS_ZEROS)


_UNREADABLE = object()


def _exactly(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _UNREADABLE


def find_violation(value: Any, where: str, *, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """(where, what is wrong) for the first value inside `value` (itself at `where`) that breaks a limit."""
    if _fine(value, 0, max_depth):
        return None
    return _walk(value, where, 0, where, max_depth)


def within(value: Any) -> bool:
    """True when nothing in `value` breaks a limit, for certain (False: `find_violation` tells, and may find none)."""
    return _fine(value, 0, MAX_DEPTH)


def check(value: Any, field: str) -> None:
    """Raise InvalidInput naming the field of the first value that breaks a limit."""
    found = find_violation(value, field)
    if found is not None:
        raise InvalidInput(f"{found[0]}: {found[1]}", field=found[0])


def _fine(value: Any, depth: int, max_depth: int) -> bool:
    """True when nothing in `value` breaks a limit, for the plain JSON types (what a body parses to): the walk of
    every accepted value, without the field paths that `_walk` builds as it goes. False: `_walk` looks again (it also
    takes what this does not know, such as a subclass of str or a key that is not a string)."""
    kind = type(value)
    if kind is str:
        return "\x00" not in value and (value.isascii() or _string(value, "") is None)
    if kind is int:
        return MIN_INT <= value <= MAX_INT
    if kind is float:
        return math.isfinite(value)
    if kind is bool or value is None:
        return True
    if kind is dict:
        if depth >= max_depth:
            return False
        depth += 1
        for key, item in value.items():
            if type(key) is not str or "\x00" in key or not key.isascii():
                return False
            if type(item) is str:  # the usual value, checked here rather than in a call of its own
                if "\x00" in item or not (item.isascii() or _string(item, "") is None):
                    return False
            elif not _fine(item, depth, max_depth):
                return False
        return True
    if kind is list:
        if depth >= max_depth:
            return False
        depth += 1
        for item in value:  # noqa: SIM110 (all() over a generator costs a frame per item)
            if not _fine(item, depth, max_depth):
                return False
        return True
    return False


def _walk(value: Any, where: str, depth: int, root: str, max_depth: int) -> tuple[str, str] | None:
    if isinstance(value, str):
        return _string(value, where)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if MIN_INT <= value <= MAX_INT else (where, "integers must be within signed 64 bits "
                                                                f"({MIN_INT} to {MAX_INT})")
    if isinstance(value, float):
        return None if math.isfinite(value) else (where, "numbers must be finite (no NaN or Infinity)")
    if isinstance(value, dict | list | tuple) and depth >= max_depth:
        return root or "body", f"nests deeper than {max_depth} levels of arrays and objects"
    if isinstance(value, dict):
        for key, item in value.items():
            inner = join(where, str(key))
            if isinstance(key, str) and (found := _string(key, inner, "key")):
                return found
            if (found := _walk(item, inner, depth + 1, root, max_depth)) is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := _walk(item, f"{where}[{index}]", depth + 1, root, max_depth)) is not None:
                return found
    return None


def _string(text: str, where: str, what: str = "string") -> tuple[str, str] | None:
    if "\x00" in text:
        return printable(where), "NUL characters are not allowed"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return printable(where), f"a {what} must be valid Unicode (a lone surrogate such as \\ud800 is not)"
    return None


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def printable(where: str) -> str:
    """A field path that can itself go into a JSON answer (a lone surrogate in a key is written escaped)."""
    return where.encode("utf-8", "backslashreplace").decode("utf-8")
