"""Query filters shared by the list routes."""

from __future__ import annotations

from fastapi import Query

from verihook.errors import InvalidInput
from verihook.model import DeliveryStatus

STATUSES = ", ".join(status.value for status in DeliveryStatus)
DELIVERY_STATUS = Query(None, description=f"one of {STATUSES}, or several separated by commas: pending,failed is "
                        "every one whose notification has not succeeded yet")


def delivery_statuses(value: str | None, field: str = "delivery_status") -> frozenset[DeliveryStatus] | None:
    """`delivery_status=pending,failed`: any of the listed statuses (None: no filter)."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    try:
        found = frozenset(DeliveryStatus(name) for name in names)
    except ValueError:
        wrong = next(name for name in names if name not in {status.value for status in DeliveryStatus})
        raise InvalidInput(f"{field}: {wrong!r} is not a delivery status; use {STATUSES}, or several separated by "
                           "commas (pending,failed)", field=field) from None
    return found
