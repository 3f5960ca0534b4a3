"""What every view shares: the base model, times and numbers as they go on the wire, pages, and redaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from verihook.model import Page

Item = TypeVar("Item")
Shown = TypeVar("Shown", bound=BaseModel)

# An RFC 3339 time, as verihook.times.rfc3339 writes it.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# A number sent as given: 5 stays 5 and 1.5 stays 1.5 (a float field would write 5.0).
Number = int | float


class View(BaseModel):
    """A response body: its fields in the order they go on the wire."""

    model_config = ConfigDict(frozen=True)


class PageOut(View, Generic[Shown]):
    """A page of a list, newest first. Each list names its own subclass (`EventPage`), which names its schema."""

    data: list[Shown]
    next_cursor: str | None = Field(description="give it as `cursor` for the next page; null on the last page")

    @classmethod
    def of(cls, page: Page[Item], show: Callable[[Item], Shown]) -> Self:
        return cls(data=[show(item) for item in page.items], next_cursor=page.next_cursor)


class HealthOut(View):
    status: Literal["ok"]


class ReadyOut(View):
    status: Literal["ready"]


