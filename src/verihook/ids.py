"""Identifiers: a short type prefix and a time-ordered random part, so ids sort by creation."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]  # two base-36 digits per division: ids are hot
_last_millis: tuple[int, str] = (-1, "")  # one tuple: threads read a pair that belongs together


def _base36(number: int, width: int) -> str:
    """The `width` (even) lowest base-36 digits of `number`."""
    pairs = []
    for _ in range(width // 2):
        number, pair = divmod(number, 1296)
        pairs.append(_PAIRS[pair])
    return "".join(reversed(pairs))


def new_id(prefix: str) -> str:
    """`prefix_` + 10 chars of milliseconds since the epoch + 12 random chars (62 bits)."""
    global _last_millis
    millis = time.time_ns() // 1_000_000
    last = _last_millis
    if millis != last[0]:  # a batch makes many ids in one millisecond
        last = _last_millis = (millis, _base36(millis, 10))
    randomness = int.from_bytes(os.urandom(8), "big") >> 2
    return f"{prefix}_{last[1]}{_base36(randomness, 12)}"
