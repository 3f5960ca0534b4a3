"""SecretBox with several keys: the first seals, every one opens; what is derived follows the first key only."""

from __future__ import annotations

import pytest

from verihook.crypto import SecretBox


def test_the_first_key_seals_and_every_key_opens() -> None:
    old, both, new = SecretBox("key-a"), SecretBox("key-b, key-a"), SecretBox("key-b")
    sealed_by_old = old.seal("whsec_x")
    assert both.open(sealed_by_old) == "whsec_x"
    sealed_by_both = both.seal("whsec_y")
    assert new.open(sealed_by_both) == "whsec_y"
    with pytest.raises(ValueError, match="any key"):
        old.open(sealed_by_both)
    with pytest.raises(ValueError, match="any key"):
        new.open(sealed_by_old)
    assert new.open(both.reseal(sealed_by_old)) == "whsec_x"


def test_derived_keys_follow_the_first_key_only() -> None:
    assert SecretBox("key-b,key-a").derive("sessions") == SecretBox("key-b").derive("sessions")
    assert SecretBox("key-b,key-a").derive("sessions") != SecretBox("key-a").derive("sessions")
    assert SecretBox("key-a").derive("sessions") == SecretBox(" key-a ").derive("sessions")


@pytest.mark.parametrize("keys", ["key-b,", ",key-a", "key-b,,key-a", " , "])
def test_an_empty_key_in_the_list_is_refused(keys: str) -> None:
    with pytest.raises(ValueError, match="empty key"):
        SecretBox(keys)
