"""The dispatcher: claim due deliveries in batches, send each under a global and a per-destination bound,
and write the outcomes in batches.

One cycle: claim as many due deliveries as there is room for and queue each on its destination, then wait for a
wake-up (an event was published), room (enough deliveries finished), the next known due time or the poll
interval, whichever is first. Each destination with queued deliveries has up to `per_endpoint_in_flight` worker
coroutines taking them from its queue in turn (no task or semaphore per delivery).

Outcomes are buffered and written by a flusher task, many per transaction; a delivery counts as done only once
its outcome is written (at-least-once). A buffered outcome frees its room at once, so claims and sends do not
wait for the flush: its delivery stays in `_in_flight` (never claimed twice, its lease renewed) until written,
and at most `max_in_flight` buffered or unwritten outcomes are held beyond the `max_in_flight` being sent.

Backpressure: a destination keeps queued only what it can send within about HOLD_S at its pace (its concurrency
over the smoothed time its answers take, or over the time it has been silent if that is longer; never fewer than
its concurrency bound). The rest of its claims go back to the store unsent, due again when it should have room
(at most DEFER_MAX_S later), so a slow or hanging receiver with a large backlog holds a bounded share of the room
and never holds back deliveries to other destinations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

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
SHED_EVERY_S = 0.5  # how often backlogs are checked besides after each claim (a receiver may start to hang)
HOLD_S = 1.0  # a destination keeps queued what it answers in about this long
LATENCY_WEIGHT = 0.1  # of the newest send in a destination's smoothed latency
FEED_SURPLUS = 1.5  # deliveries handed back come due this much faster than the destination's pace: never starved
DEFER_MAX_S = 30.0  # deliveries handed back are due again within this long


class _Destination:
    """Deliveries claimed for one endpoint (or URL), waiting for one of its workers, and how fast it answers."""

    __slots__ = ("answered_at", "latency_s", "next_free", "queue", "workers")

    def __init__(self, now: float) -> None:
        self.queue: deque[tuple[DueDelivery, Target, str]] = deque()
        self.workers = 0
        self.latency_s: float | None = None  # how long a send takes, smoothed; None until one has finished
        self.answered_at = now  # when a send last finished (or when the destination was first queued on)
        self.next_free = 0.0  # the latest time a delivery handed back was made due again

    def answered(self, latency_s: float, now: float) -> None:
        known = self.latency_s
        self.latency_s = latency_s if known is None else known + LATENCY_WEIGHT * (latency_s - known)
        self.answered_at = now

    def capacity(self, concurrency: int, now: float) -> float:
        """Sends a second at full concurrency. While nothing has finished for longer than a send usually takes
        (a receiver that hangs), a send takes at least that long."""
        waited = now - self.answered_at
        latency = waited if self.latency_s is None else max(self.latency_s, waited)
        return concurrency / latency if latency > 0 else float("inf")

    def shed(self, concurrency: int, now: float) -> list[tuple[str, float]]:
        """Take out of the queue what this destination will not send within about HOLD_S; say when each is due."""
        if len(self.queue) <= concurrency:
            return []
        capacity = self.capacity(concurrency, now)
        if len(self.queue) <= capacity * HOLD_S:
            return []
        keep = max(concurrency, int(capacity * HOLD_S))
        spacing = 1 / (capacity * FEED_SURPLUS)
        horizon = now + DEFER_MAX_S
        at = max(self.next_free, now + keep * spacing)
        excess = [self.queue.pop()[0] for _ in range(len(self.queue) - keep)]
        deferrals = []
        for due in reversed(excess):
            at = min(at + spacing, horizon)
            deferrals.append((due.id, at))
        self.next_free = at
        return deferrals


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
        self._in_flight: dict[str, float] = {}  # delivery id -> when claimed; until its outcome is written
        self._sending = 0  # claimed deliveries whose outcome is not buffered yet (queued, resolving or sending)
        self._tasks: set[asyncio.Task[None]] = set()  # workers and target look-ups
        self._destinations: dict[str, _Destination] = {}
        self._results: list[DeliveryResult] = []
        self._next_known_due: float | None = None
        # Claim again once this much room is free: claims ahead of the sends, in batches worth a transaction.
        self._claim_at = max(1, min(settings.claim_batch, settings.max_in_flight) // 4)
        self.running = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until `stop()`; then finish what is in flight (up to a grace period) and write it."""
        self.running = True
        flusher = asyncio.create_task(self._flush_loop(), name="verihook-flusher")
        renewer = asyncio.create_task(self._renew_leases(), name="verihook-lease-renewer")
        shedder = asyncio.create_task(self._shed_loop(), name="verihook-shedder")
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
            shedder.cancel()
            self._flushed.set()
            await asyncio.gather(flusher, renewer, shedder, return_exceptions=True)
            self.running = False

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._room.set()

    def _room_left(self) -> int:
        """How many more deliveries may be claimed: `max_in_flight` being sent, as many more unwritten."""
        limit = self.settings.max_in_flight
        return min(limit - self._sending, 2 * limit - len(self._in_flight))

    async def _cycle(self) -> None:
        asked = min(self._room_left(), self.settings.claim_batch)
        if asked > 0:
            self._wake.clear()
            self._room.clear()
            due = await self.store.claim_due(self.clock(), asked)
            self._dispatch(due)
            self._shed()
            if len(due) < asked:  # nothing more is due now
                await self._wait(self._wake)
                return
            if self._room_left() >= self._claim_at:
                return  # more is due and there is room for a batch of it: claim again at once
        self._room.clear()
        if self._room_left() < self._claim_at:
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

    def _dispatch(self, claimed: list[DueDelivery]) -> None:
        """Queue claimed deliveries on their destinations; targets not in memory are looked up in a task."""
        now = self.clock()
        unknown = []
        for due in claimed:
            if due.id in self._in_flight:
                continue
            self._in_flight[due.id] = now
            self._sending += 1
            target = self.targets.cached(due)
            if target is None:
                unknown.append(due)
            else:
                self._route(due, target)
        if unknown:
            self._spawn(self._look_up(unknown))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look_up(self, deliveries: list[DueDelivery]) -> None:
        for due in deliveries:  # one at a time: the first of an endpoint loads it, the others find it cached
            try:
                target = await self.targets.for_delivery(due)
            except Exception:
                log.exception("delivery %s failed unexpectedly; it is left to its lease", due.id)
                self._in_flight.pop(due.id, None)
                self._done_sending()
                continue
            self._route(due, target)

    def _route(self, due: DueDelivery, target: Target) -> None:
        url = target.url or due.url
        if target.refusal is not None:
            sent = Sent(Outcome(None, {}, b"", 0.0, AttemptError.ENDPOINT_DISABLED, target.refusal), {}, False)
            self._finish(due, target, sent)
            return
        key = target.endpoint_id or url
        destination = self._destinations.get(key)
        if destination is None:
            destination = self._destinations[key] = _Destination(self.clock())
        destination.queue.append((due, target, url))
        if destination.workers < self.settings.per_endpoint_in_flight:
            destination.workers += 1
            self._spawn(self._work(key, destination))

    async def _work(self, key: str, destination: _Destination) -> None:
        """One of a destination's workers: send its queued deliveries one after another until none is left."""
        try:
            queue = destination.queue
            while queue:
                due, target, url = queue.popleft()
                try:
                    sent = await self.sender.send(target, url, await self._message_for(due, target))
                except Exception:
                    log.exception("delivery %s failed unexpectedly; it is left to its lease", due.id)
                    self._in_flight.pop(due.id, None)
                    self._done_sending()
                    continue
                destination.answered(sent.outcome.latency_ms / 1000, self.clock())
                self._finish(due, target, sent)
        finally:
            destination.workers -= 1
            if not destination.workers and not destination.queue and self._destinations.get(key) is destination:
                del self._destinations[key]

    def _finish(self, due: DueDelivery, target: Target, sent: Sent) -> None:
        try:
            self._record(due, target, sent)
        except Exception:
            log.exception("delivery %s failed unexpectedly; it is left to its lease", due.id)
            self._in_flight.pop(due.id, None)
        self._done_sending()

    def _done_sending(self) -> None:
        self._sending -= 1
        if self._room_left() >= self._claim_at:
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
            disable_reason=verdict.disable_endpoint, cycle_started_at=due.cycle_started_at,
            first_request=_first_request(due, target, sent) if status is DeliveryStatus.PENDING else None))
        if verdict.disable_endpoint and target.endpoint_id:
            self.targets.forget(target.endpoint_id)
        # Unwritten outcomes hold room too (at most max_in_flight of them): write before half of that is waiting.
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
            self.metrics.outcome_writes += 1
            for result in batch:
                self._in_flight.pop(result.delivery_id, None)
            if self._room_left() >= self._claim_at:
                self._room.set()

    async def _shed_loop(self) -> None:
        while True:
            await asyncio.sleep(SHED_EVERY_S)
            self._shed()

    def _shed(self) -> None:
        """Hand back what slow destinations hold beyond what they answer in about HOLD_S (see the docstring)."""
        now = self.clock()
        concurrency = self.settings.per_endpoint_in_flight
        deferrals = [d for destination in self._destinations.values() for d in destination.shed(concurrency, now)]
        if not deferrals:
            return
        self._sending -= len(deferrals)
        self.metrics.deferred += len(deferrals)
        self._spawn(self._defer(deferrals, now))
        if self._room_left() >= self._claim_at:
            self._room.set()

    async def _defer(self, deferrals: list[tuple[str, float]], now: float) -> None:
        try:
            await self.store.defer(deferrals, now)
        except Exception:
            log.exception("handing back %d deliveries failed; they are left to their leases", len(deferrals))
        for delivery_id, _ in deferrals:
            self._in_flight.pop(delivery_id, None)
        first_due = min(at for _, at in deferrals)
        if self._next_known_due is None or first_due < self._next_known_due:
            self._next_known_due = first_due

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


    async def _message_for(self, due: DueDelivery, target: Target) -> Message:
        """The message to send; a retry of an identical-retry profile resends the cycle's first request."""
        message = _message(due)
        if due.cycle_attempts and target.rules.profile.defaults.identical_retry:
            stored = await self.store.first_request(due.id)
            first = orjson.loads(stored) if stored else None
            if first is not None and first["cycle"] == message.cycle_started_at:
                message.replay = [(name, value) for name, value in first["headers"]]
        return message


def _first_request(due: DueDelivery, target: Target, sent: Sent) -> bytes | None:
    """What an identical retry must repeat: the headers of the cycle's first request that went out (a replay
    carries no `wire_headers`: it is that request already)."""
    if sent.wire_headers is None or not target.rules.profile.defaults.identical_retry:
        return None
    cycle = due.cycle_started_at or due.created_at
    return orjson.dumps({"cycle": cycle, "headers": sent.wire_headers})


def _message(due: DueDelivery) -> Message:
    return Message(event_id=due.event_id, event_type=due.event_type, data_json=due.event_data_json,
                   event_created_at=due.event_created_at, cycle_started_at=due.cycle_started_at or due.created_at,
                   subject_id=due.subject_id, sequence=due.sequence)
