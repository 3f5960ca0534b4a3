"""Identifiers: a short type prefix and a time-ordered random part, so ids sort by creation."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """`prefix_` + 10 chars of milliseconds since the epoch + 12 random chars (62 bits)."""
    millis = time.time_ns() // 1_000_000
    randomness = int.from_bytes(os.urandom(8), "big") >> 2
    return f"{prefix}_{_base36(millis, 10)}{_base36(randomness, 12)}"
