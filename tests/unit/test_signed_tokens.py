"""Signed tokens: the payload comes back only with the right key, the right purpose and before expiry."""

from __future__ import annotations

import pytest

from verihook.service.signed_tokens import BadToken, sign, verify

KEY = b"k" * 32


def test_a_token_verifies_with_its_key_and_purpose() -> None:
    token = sign(KEY, "session", {"k": "abc", "exp": 200.0})
    assert verify(KEY, "session", token, now=100.0) == {"k": "abc", "exp": 200.0}


@pytest.mark.parametrize(("key", "purpose", "now", "reason"), [
    (b"x" * 32, "session", 100.0, "bad signature"),
    (KEY, "portal-link", 100.0, "bad signature"),
    (KEY, "session", 200.0, "expired"),
    (KEY, "session", 250.0, "expired"),
])
def test_another_key_purpose_or_a_late_use_is_refused(key: bytes, purpose: str, now: float, reason: str) -> None:
    token = sign(KEY, "session", {"exp": 200.0})
    with pytest.raises(BadToken, match=reason):
        verify(key, purpose, token, now)


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", "a.b.c", "!!!.???", "x" * 5000,
                                   sign(KEY, "s", {"exp": 1}).replace(".", "")])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(BadToken):
        verify(KEY, "s", token, 0.0)


def test_a_payload_without_an_expiry_is_refused_even_when_signed() -> None:
    for payload in ({"k": "abc"}, {"exp": "soon"}):
        with pytest.raises(BadToken, match="malformed"):
            verify(KEY, "s", sign(KEY, "s", payload), 0.0)
    with pytest.raises(BadToken, match="malformed"):
        verify(KEY, "s", sign(KEY, "s", [1, 2]), 0.0)  # type: ignore[arg-type]
