"""Publishing a batch of drafts in one transaction, the same on both engines: idempotency keys looked up once,
subjects numbered, deliveries routed, then one insert per table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from verihook.model import Delivery, DeliveryStatus, Endpoint, Event, Published, Subject
from verihook.store import queries as q
from verihook.store.base import EventDraft, Recipient, Router
from verihook.store.codec import EndpointCodec
from verihook.store.database import Tx
from verihook.store.errors import MissingRow
from verihook.store.rows import delivery_of, event_of, subject_of

IdempotencyKey = tuple[str, str | None]
# takes, until the transaction ends, whatever the engine needs so that concurrent publishers of one key serialise
KeyLock = Callable[[Tx, Sequence[tuple[str, str]]], Awaitable[None]]
_STATUS_TEXT = {status: status.value for status in DeliveryStatus}  # Enum.value is a slow property


class PublishBatch:
    """The rows one publish writes, gathered while routing and written with one statement per table."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.deliveries: list[tuple[Any, ...]] = []
        self.status_changes: list[tuple[Any, ...]] = []
        self.made_due = False  # a pending delivery is among them

    def add(self, draft: EventDraft, subject: Subject | None, destinations: Sequence[Recipient]) -> Published:
        sequence = subject.sequence if subject is not None else None
        at = draft.created_at
        self.events.append((draft.id, draft.tenant_id, draft.type, draft.data_json.decode(), draft.subject_id,
                            sequence, draft.idempotency_key, at))
        deliveries = []
        delivery_prefix = draft.id.replace("evt_", "dlv_", 1)
        for index, destination in enumerate(destinations):
            status = DeliveryStatus.SKIPPED if destination.skipped else DeliveryStatus.PENDING
            due_at = None if destination.skipped else at
            delivery = Delivery(
                id=f"{delivery_prefix}{index:03d}", event_id=draft.id, tenant_id=draft.tenant_id,
                endpoint_id=destination.endpoint_id, url=destination.url, status=status, attempt_count=0,
                cycle_attempts=0, next_attempt_at=due_at, created_at=at, updated_at=at)
            deliveries.append(delivery)
            self.deliveries.append((delivery.id, draft.id, draft.tenant_id, destination.endpoint_id, destination.url,
                                    _STATUS_TEXT[status], due_at, destination.lease_s, at, at, at, draft.subject_id))
            self.made_due = self.made_due or not destination.skipped
        data = orjson.loads(draft.data_json) if draft.data is None else draft.data
        event = Event(id=draft.id, tenant_id=draft.tenant_id, type=draft.type, data=data, subject_id=draft.subject_id,
                      sequence=sequence, idempotency_key=draft.idempotency_key, created_at=at)
        return Published(event, deliveries, duplicate=False)

    async def insert(self, tx: Tx) -> None:
        if self.events:
            await tx.insert_many(q.EVENT_ROWS, self.events)
        if self.status_changes:
            await tx.insert_many(q.STATUS_CHANGE_ROWS, self.status_changes)
        if self.deliveries:
            await tx.insert_many(q.DELIVERY_ROWS, self.deliveries)


async def publish(tx: Tx, drafts: Sequence[EventDraft], router: Router, codec: EndpointCodec,
                  lock_keys: KeyLock) -> tuple[list[Published], bool]:
    """What each draft published (or the earlier event its idempotency key names), and whether any delivery
    was made due."""
    earlier = await _earlier_events(tx, drafts, lock_keys)
    endpoints_of: dict[str, list[Endpoint]] = {}
    routes: dict[tuple[str, str], list[Recipient]] = {}  # (tenant, type) of the drafts without a subject
    batch = PublishBatch()
    published = []
    for draft in drafts:
        key = (draft.tenant_id, draft.idempotency_key)
        if key in earlier:
            first = earlier[key]
            published.append(Published(first.event, list(first.deliveries), duplicate=True))
            continue
        if draft.tenant_id not in endpoints_of:
            endpoints_of[draft.tenant_id] = [
                codec.from_row(row, with_secrets=False)
                for row in await tx.fetch_all(q.LIVE_ENDPOINTS, tenant_id=draft.tenant_id)]
        if draft.subject_id is None:
            destinations = routes.get((draft.tenant_id, draft.type))
            if destinations is None:
                destinations = routes[draft.tenant_id, draft.type] = router(draft, None, endpoints_of[draft.tenant_id])
            subject = None
        else:
            subject = await _advance_subject(tx, draft, batch)
            destinations = router(draft, subject, endpoints_of[draft.tenant_id])
        if draft.only_if_routed and not destinations:
            continue
        made = batch.add(draft, subject, destinations)
        published.append(made)
        if draft.idempotency_key is not None:
            earlier[key] = made
    await batch.insert(tx)
    return published, batch.made_due


async def _earlier_events(tx: Tx, drafts: Sequence[EventDraft], lock_keys: KeyLock
                          ) -> dict[IdempotencyKey, Published]:
    """The events that already hold the drafts' idempotency keys (after `lock_keys`, so that a concurrent
    publisher of the same key waits and then finds this one's event)."""
    keyed = sorted({(d.tenant_id, d.idempotency_key) for d in drafts if d.idempotency_key is not None})
    if not keyed:
        return {}
    await lock_keys(tx, keyed)
    wanted = set(keyed)
    rows = [row for row in await tx.fetch_all(q.EVENTS_BY_IDEMPOTENCY_KEYS, tenant_ids=sorted({k[0] for k in keyed}),
                                              keys=sorted({k[1] for k in keyed}))
            if (row["tenant_id"], row["idempotency_key"]) in wanted]
    if not rows:
        return {}
    deliveries: dict[str, list[Delivery]] = {row["id"]: [] for row in rows}
    for row in await tx.fetch_all(q.DELIVERIES_OF_EVENTS, event_ids=list(deliveries)):
        deliveries[row["event_id"]].append(delivery_of(row))
    return {(row["tenant_id"], row["idempotency_key"]): Published(event_of(row), deliveries[row["id"]], True)
            for row in rows}


async def _advance_subject(tx: Tx, draft: EventDraft, batch: PublishBatch) -> Subject:
    update = draft.subject_update
    if update is None:
        row = await tx.fetch_one(q.ADVANCE_SUBJECT, tenant_id=draft.tenant_id, id=draft.subject_id)
    else:
        row = await tx.fetch_one(q.ADVANCE_SUBJECT_STATUS, tenant_id=draft.tenant_id, id=draft.subject_id,
                                 status=update.status,
                                 data=None if update.data_json is None else update.data_json.decode(),
                                 at=draft.created_at)
        batch.status_changes.append((draft.tenant_id, draft.subject_id, update.status, draft.created_at, draft.id))
    if row is None:
        raise MissingRow(f"subject {draft.subject_id} not found", field="subject_id")
    return subject_of(row)
