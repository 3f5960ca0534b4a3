"""The rolled-up delivery status of events and subjects as SQL conditions: the same text in both dialects.

Each "has a delivery in this status" is a scalar subquery probed row by row (the listing walks its table newest
first and stops when the page is full), never EXISTS: PostgreSQL turns [NOT] EXISTS into joins over every row of
the tenant, or into hashed subplans that read every delivery in that status, then sorts. Its absence is written
`COALESCE(..., 0) <> 1`, not `IS NULL`: PostgreSQL guesses 0.5 % of rows pass an IS NULL of a subquery, and with
two or three of them expects the page to need the whole table, so it scans and sorts all the tenant's subjects.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from verihook.model import DeliveryStatus

Probe = Callable[[str], str]  # a status -> a query of one row (1) when the row has a delivery in it, else none


def event_probe(status: str) -> str:
    return f"SELECT 1 FROM deliveries dd WHERE dd.event_id = e.id AND dd.status = '{status}' LIMIT 1"


def subject_probe(status: str) -> str:
    """A pending, failed or skipped delivery: one probe of the index deliveries_subject_open (migration 0008); a
    succeeded one, not in that index, through the subject's events (asked after "none failed, none pending",
    the first event usually has one)."""
    if status == DeliveryStatus.SUCCEEDED:
        return ("SELECT 1 FROM events se JOIN deliveries sd ON sd.event_id = se.id WHERE se.tenant_id = s.tenant_id"
                " AND se.subject_id = s.id AND sd.status = 'succeeded' LIMIT 1")
    return (f"SELECT 1 FROM deliveries sd WHERE sd.tenant_id = s.tenant_id AND sd.status = '{status}'"
            " AND sd.subject_id = s.id LIMIT 1")


def status_condition(status: DeliveryStatus | Collection[DeliveryStatus | None], probe: Probe) -> str:
    """SQL true when the rolled-up status is `status` (or one of them): failed beats pending beats succeeded;
    `skipped`, which is no rolled-up status, is true when any delivery was skipped; None in a collection stands
    for no rolled-up status at all (nothing sent, or only skipped deliveries)."""

    def has(one: str) -> str:
        return f"({probe(one)}) IS NOT NULL"

    def lacks(one: str) -> str:
        return f"COALESCE(({probe(one)}), 0) <> 1"

    if not isinstance(status, DeliveryStatus):
        statuses = sorted(set(status), key=str)
        if len(statuses) != 1:
            return "(" + " OR ".join(f"({status_condition([one], probe)})" for one in statuses) + ")"
        if statuses[0] is None:
            return " AND ".join(lacks(one) for one in ("failed", "pending", "succeeded"))
        status = statuses[0]
    if status is DeliveryStatus.FAILED:
        return has("failed")
    if status is DeliveryStatus.SKIPPED:
        return has("skipped")
    if status is DeliveryStatus.PENDING:
        return f"{lacks('failed')} AND {has('pending')}"
    return f"{lacks('failed')} AND {lacks('pending')} AND {has('succeeded')}"
