"""Identifiers: a short type prefix and a time-ordered random part, so ids sort by creation."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]  # two base-36 digits per division
RANDOM_DIGITS = 12  # 36**12 ≈ 2**62
# A random byte below 252 (7 x 36) is a uniform base-36 digit; the 4 above are dropped so none is more likely.
_DIGIT_OF_BYTE = bytes(ord(_ALPHABET[byte % 36]) for byte in range(256))
_BIASED_BYTES = bytes(range(252, 256))
_RANDOM_BYTES_PER_DRAW = 4096  # a batch makes a thousand ids: one getrandom() call for some 330 of them
_last_millis: tuple[int, str] = (-1, "")  # one tuple: threads read a pair that belongs together
_forks = 0  # a forked child must not take the digits its parent drew


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)


class _RandomDigits(threading.local):
    """Uniform random base-36 digits from os.urandom, drawn many at a time, each thread its own."""

    def __init__(self) -> None:
        self.digits = ""
        self.taken = 0
        self.forks = _forks

    def take(self, count: int) -> str:
        if self.taken + count > len(self.digits) or self.forks != _forks:
            raw = os.urandom(_RANDOM_BYTES_PER_DRAW)
            self.digits = raw.translate(_DIGIT_OF_BYTE, _BIASED_BYTES).decode("ascii")
            self.taken, self.forks = 0, _forks
        start = self.taken
        self.taken = start + count
        return self.digits[start:self.taken]


_random_digits = _RandomDigits()


def _base36(number: int, width: int) -> str:
    """The `width` (even) lowest base-36 digits of `number`."""
    pairs = []
    for _ in range(width // 2):
        number, pair = divmod(number, 1296)
        pairs.append(_PAIRS[pair])
    return "".join(reversed(pairs))


def new_id(prefix: str) -> str:
    """`prefix_` + 10 chars of milliseconds since the epoch + 12 random base-36 digits (62 bits)."""
    global _last_millis
    millis = time.time_ns() // 1_000_000
    last = _last_millis
    if millis != last[0]:  # a batch makes many ids in one millisecond
        last = _last_millis = (millis, _base36(millis, 10))
    return f"{prefix}_{last[1]}{_random_digits.take(RANDOM_DIGITS)}"
