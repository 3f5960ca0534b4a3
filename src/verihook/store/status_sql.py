"""The rolled-up delivery status of events and subjects as SQL conditions: the same text in both dialects."""

from __future__ import annotations

from collections.abc import Callable, Collection

from verihook.model import DeliveryStatus

HasDelivery = Callable[[str], str]  # a status -> SQL true when the row (`e` or `s`) has a delivery in it


def event_has_delivery(status: str) -> str:
    return f"EXISTS (SELECT 1 FROM deliveries dd WHERE dd.event_id = e.id AND dd.status = '{status}')"


def subject_has_delivery(status: str) -> str:
    """A pending, failed or skipped delivery: one probe of the index deliveries_subject_open (migration 0008); a
    succeeded one, not in that index, through the subject's events (asked after "none failed, none pending", the
    first event usually has one). Scalar subqueries, not EXISTS: PostgreSQL turns [NOT] EXISTS into joins over
    all the tenant's subjects and sorts them, where probing the newest subjects one by one stops at the page's
    limit; SQLite probes one by one either way."""
    if status == DeliveryStatus.SUCCEEDED:
        return ("(SELECT 1 FROM events se JOIN deliveries sd ON sd.event_id = se.id WHERE se.tenant_id = s.tenant_id"
                " AND se.subject_id = s.id AND sd.status = 'succeeded' LIMIT 1) IS NOT NULL")
    return ("(SELECT 1 FROM deliveries sd WHERE sd.tenant_id = s.tenant_id AND sd.status = '{status}'"
            " AND sd.subject_id = s.id LIMIT 1) IS NOT NULL").replace("{status}", status)


def status_condition(status: DeliveryStatus | Collection[DeliveryStatus | None], has_delivery: HasDelivery) -> str:
    """SQL true when the rolled-up status is `status` (or one of them): failed beats pending beats succeeded;
    `skipped`, which is no rolled-up status, is true when any delivery was skipped; None in a collection stands
    for no rolled-up status at all (nothing sent, or only skipped deliveries)."""
    if not isinstance(status, DeliveryStatus):
        statuses = sorted(set(status), key=str)
        if len(statuses) != 1:
            return "(" + " OR ".join(f"({status_condition([one], has_delivery)})" for one in statuses) + ")"
        if statuses[0] is None:
            return " AND ".join(f"NOT {has_delivery(one)}" for one in ("failed", "pending", "succeeded"))
        status = statuses[0]
    if status is DeliveryStatus.FAILED:
        return has_delivery("failed")
    if status is DeliveryStatus.SKIPPED:
        return has_delivery("skipped")
    if status is DeliveryStatus.PENDING:
        return f"NOT {has_delivery('failed')} AND {has_delivery('pending')}"
    return f"NOT {has_delivery('failed')} AND NOT {has_delivery('pending')} AND {has_delivery('succeeded')}"
