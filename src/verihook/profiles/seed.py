"""What the seed profiles share: subject kinds with their status lists, and bodies kept to the seed's letter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from verihook.errors import InvalidInput
from verihook.profiles.base import Profile


class SeedProfile(Profile):
    """A profile whose subjects have a fixed set of kinds, each with the statuses its seed document lists."""

    statuses: Mapping[str, tuple[str, ...]] = {}  # subject kind -> its statuses

    def check_subject_status(self, kind: str, status: str) -> None:
        known = self.statuses.get(kind)
        if known is None:
            raise InvalidInput(f"profile {self.name} knows subjects of kind {_listed(self.statuses)}, "
                               f"not {kind!r}", field="kind")
        if status not in known:
            raise InvalidInput(f"{status!r} is not a status of a {self.name} {kind}; use one of {_listed(known)}",
                               field="status")


def _listed(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)


def integers(data: dict[str, Any], names: Iterable[str]) -> None:
    """JSON does not tell 2 from 2.0 and JSON Schema calls both integers; the seed bodies carry 2."""
    for name in names:
        value = data.get(name)
        if isinstance(value, float) and value.is_integer():
            data[name] = int(value)


def in_order(data: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The fields present in `data`, in the order the seed document shows them."""
    return {key: data[key] for key in keys if key in data}


def described(data: dict[str, Any], code_field: str, text_field: str, table: Mapping[int, str]) -> None:
    """Fill `text_field` from `code_field`'s row of `table`, or refuse a text that contradicts the code."""
    expected = table[data[code_field]]
    given = data.get(text_field)
    if given is not None and given != expected:
        raise InvalidInput(f"data.{text_field}: {given!r} does not match {code_field} {data[code_field]} "
                           f"({expected!r}); leave it out and Verihook fills it in", field=f"data.{text_field}")
    data[text_field] = expected
