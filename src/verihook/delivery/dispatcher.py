"""The dispatcher: claim due deliveries in batches, send each under a global and a per-destination bound,
and write the outcomes in batches.

One cycle: claim as many due deliveries as there is room for, start them, then wait for a wake-up (an event
was published), room (deliveries finished), the next known due time or the poll interval, whichever is first.
Outcomes are buffered and written by a flusher task, many per transaction; a delivery counts as done only once
its outcome is written (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from verihook.config import DispatcherSettings
from verihook.delivery.sender import Message, Sender, Sent, excerpt, judge
from verihook.delivery.targets import Target, Targets
from verihook.delivery.transport import Outcome
from verihook.metrics import Metrics
from verihook.model import Attempt, AttemptError, DeliveryResult, DeliveryStatus, DueDelivery
from verihook.store.base import Store

log = logging.getLogger("verihook.dispatcher")

LEASE_RENEW_EVERY_S = 5.0
STORE_RETRY_S = 1.0
STOP_GRACE_S = 10.0


class Dispatcher:
    def __init__(self, store: Store, sender: Sender, targets: Targets, settings: DispatcherSettings,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.sender = sender
        self.targets = targets
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.clock = clock
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._flushed = asyncio.Event()
        self._stopping = False
        self._in_flight: dict[str, float] = {}  # delivery id -> when claimed
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_destination: dict[str, asyncio.Semaphore] = {}
        self._results: list[DeliveryResult] = []
        self._next_known_due: float | None = None
        self.running = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until `stop()`; then finish what is in flight (up to a grace period) and write it."""
        self.running = True
        flusher = asyncio.create_task(self._flush_loop(), name="verihook-flusher")
        renewer = asyncio.create_task(self._renew_leases(), name="verihook-lease-renewer")
        try:
            while not self._stopping:
                try:
                    await self._cycle()
                except Exception:  # the store is unreachable, or a bug: say so, wait, go on
                    log.exception("dispatcher cycle failed; retrying")
                    await asyncio.sleep(STORE_RETRY_S)
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
        finally:
            for task in self._tasks:
                task.cancel()
            renewer.cancel()
            self._flushed.set()
            await asyncio.gather(flusher, renewer, return_exceptions=True)
            self.running = False

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._room.set()

    async def _cycle(self) -> None:
        room = self.settings.max_in_flight - len(self._in_flight)
        asked = min(room, self.settings.claim_batch)
        if asked > 0:
            self._wake.clear()
            self._room.clear()
            due = await self.store.claim_due(self.clock(), asked)
            for delivery in due:
                if delivery.id not in self._in_flight:
                    self._start(delivery)
            if len(due) == asked and asked < room:
                return  # more is due and there is room for it: claim again at once
            if len(due) < asked:
                await self._wait(self._wake)
                return
        else:
            self._room.clear()
        await self._wait(self._room)

    async def _wait(self, event: asyncio.Event) -> None:
        """Wait for `event`, a wake-up, the next known due time or the poll interval, whichever comes first."""
        timeout = self.settings.poll_interval_s
        if self._next_known_due is not None:
            timeout = max(0.0, min(timeout, self._next_known_due - self.clock()))
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(event.wait())}
        _, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        if self._next_known_due is not None and self._next_known_due <= self.clock():
            self._next_known_due = None

    def _start(self, due: DueDelivery) -> None:
        self._in_flight[due.id] = self.clock()
        task = asyncio.create_task(self._deliver(due))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, due: DueDelivery) -> None:
        try:
            target = await self.targets.for_delivery(due)
            url = target.url or due.url
            if target.refusal is not None:
                sent = Sent(Outcome(None, {}, b"", 0.0, AttemptError.ENDPOINT_DISABLED, target.refusal), {}, False)
            else:
                key = target.endpoint_id or url
                bound = self._per_destination.get(key)
                if bound is None:
                    bound = self._per_destination[key] = asyncio.Semaphore(self.settings.per_endpoint_in_flight)
                async with bound:
                    sent = await self.sender.send(target, url, _message(due))
            self._record(due, target, sent)
        except Exception:
            log.exception("delivery %s failed unexpectedly; it is left to its lease", due.id)
            self._in_flight.pop(due.id, None)
            self._room.set()

    def _record(self, due: DueDelivery, target: Target, sent: Sent) -> None:
        now = self.clock()
        outcome = sent.outcome
        verdict = judge(sent, target, due.cycle_attempts, now)
        if target.refusal is not None:
            verdict.retry_in_s = None
        attempt = Attempt(
            delivery_id=due.id, number=due.attempt_count + 1, at=now - outcome.latency_ms / 1000,
            status_code=outcome.status_code, latency_ms=round(outcome.latency_ms, 3),
            error=None if outcome.error is None else outcome.error.value, error_detail=outcome.error_detail,
            request_headers=sent.request_headers, response_headers=outcome.headers,
            response_body=excerpt(outcome.body))
        if verdict.succeeded:
            status, next_at, label = DeliveryStatus.SUCCEEDED, None, "succeeded"
        elif verdict.retry_in_s is not None:
            status, next_at, label = DeliveryStatus.PENDING, now + verdict.retry_in_s, "retrying"
            if self._next_known_due is None or next_at < self._next_known_due:
                self._next_known_due = next_at
        else:
            status, next_at, label = DeliveryStatus.FAILED, None, "failed"
        self.metrics.delivery(label, target.rules.profile.name)
        if outcome.status_code is not None:
            self.metrics.attempt_duration.observe(outcome.latency_ms / 1000)
        self._results.append(DeliveryResult(
            delivery_id=due.id, event_id=due.event_id, attempt=attempt, status=status, next_attempt_at=next_at,
            disable_endpoint_id=target.endpoint_id if verdict.disable_endpoint else None,
            disable_reason=verdict.disable_endpoint))
        if verdict.disable_endpoint and target.endpoint_id:
            self.targets.forget(target.endpoint_id)
        # Room for new claims is freed only by a flush, so flush before half the in-flight bound is waiting.
        if len(self._results) >= min(self.settings.flush_batch, self.settings.max_in_flight // 2):
            self._flushed.set()

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed.wait(), self.settings.flush_interval_s)
            self._flushed.clear()
            await self._flush_all()
            if not self.running or (self._stopping and not self._tasks and not self._results):
                return

    async def _flush_all(self) -> None:
        while self._results:
            batch, self._results = self._results, []
            try:
                await self.store.record_results(batch, self.clock())
            except Exception:
                log.exception("writing %d outcomes failed; keeping them to write again", len(batch))
                self._results = batch + self._results
                await asyncio.sleep(STORE_RETRY_S)
                continue
            for result in batch:
                self._in_flight.pop(result.delivery_id, None)
            self._room.set()

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_EVERY_S)
            now = self.clock()
            held = [delivery_id for delivery_id, since in self._in_flight.items()
                    if now - since >= LEASE_RENEW_EVERY_S]
            if held:
                try:
                    await self.store.extend_leases(held, now)
                except Exception:
                    log.exception("renewing %d leases failed", len(held))


def _message(due: DueDelivery) -> Message:
    return Message(event_id=due.event_id, event_type=due.event_type, data_json=due.event_data_json,
                   event_created_at=due.event_created_at, cycle_started_at=due.cycle_started_at or due.created_at,
                   subject_id=due.subject_id, sequence=due.sequence)
