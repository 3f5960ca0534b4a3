"""The dispatcher's scheduling stage: claim due deliveries in batches, queue each on its destination's lane, send
under the room's bounds, and hand the answers to the recorder (recorder.py), which writes them in batches.

One cycle: claim as many due deliveries as there is room for and queue each on its lane, then wait for a wake-up
(an event was published), room (enough deliveries finished), the next known due time or the poll interval,
whichever is first. A lane has up to its window of worker coroutines taking deliveries from its queue in turn.

How the room is shared (docs/ARCHITECTURE.md, "The room"): `max_in_flight` deliveries may be held (queued or
being sent). A send that has stalled (out longer than its lane's answers usually take, at least STALL_MIN_S) no
longer counts: a hanging receiver holds sockets, not room (at most STALLED_PER_ROOM times the room of them). A
silent lane keeps no queue; a lane keeps queued only what it sends in about HOLD_S; a lane's window starts small
and grows with its answers. When slow lanes together hold more than the room less a reserve kept for everyone
else, they are cut to max-min fair shares, by tenant and then by lane: what they claim beyond that goes back to
the store unsent, due again at their pace, so claims reach the deliveries behind them at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import orjson

from verihook.config import DispatcherSettings
from verihook.delivery.destinations import Destination, Destinations
from verihook.delivery.fairness import lane_shares
from verihook.delivery.lanes import Lane, Work
from verihook.delivery.recorder import Publish, Recorder, internal_failure, result_of
from verihook.delivery.sender import Message, Sender, Sent
from verihook.delivery.supervisor import Supervisor, TaskFactory
from verihook.delivery.transport import Outcome
from verihook.metrics import Metrics
from verihook.model import AttemptError, DueDelivery
from verihook.policy import parse_retry_after
from verihook.store.base import Store
from verihook.store.errors import is_unavailable

log = logging.getLogger("verihook.dispatcher")

STORE_RETRY_S = 1.0
STOP_GRACE_S = 10.0
PACE_EVERY_S = 0.25  # how often lanes are checked for stalled sends and backlogs, besides after each claim
RESERVE_PART = 4  # slow lanes together keep at most the room less 1/RESERVE_PART of it
STALLED_PER_ROOM = 4  # stalled sends kept out of the room: at most this many times max_in_flight
PAUSE_MIN_S = 0.2  # the pacer running this much later than due means the process was paused (no CPU)
LANE_IDLE_S = 120.0  # an idle lane (and what it learned of its destination) is forgotten after this long

Listen = Callable[[Callable[[], None]], Awaitable[None]]


class Dispatcher:
    def __init__(self, store: Store, sender: Sender, destinations: Destinations, settings: DispatcherSettings,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.time,
                 listen: Listen | None = None, side_tasks: Mapping[str, TaskFactory] | None = None) -> None:
        self.store = store
        self.sender = sender
        self.destinations = destinations
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.recorder = Recorder(store, settings, self.metrics, clock, on_written=self._room_may_have_freed)
        self.supervisor = Supervisor()
        self._listen = listen
        self._side_tasks = dict(side_tasks or {})  # more loops to run under the supervisor (retention)
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._stopping = False
        self._live = 0  # claimed deliveries not yet answered (queued, resolving or sending) that count in the room
        self._stalled = 0  # sends out that have stalled: not counted in the room
        self._tasks: set[asyncio.Task[None]] = set()  # workers and destination look-ups
        self._lanes: dict[str, Lane] = {}
        self._tokens = itertools.count()
        self._next_known_due: float | None = None
        self._paced_at: float | None = None
        # Claim again once this much room is free: claims ahead of the sends, in batches worth a transaction.
        self._claim_at = max(1, min(settings.claim_batch, settings.max_in_flight) // 4)
        self.running = False

    def wake(self) -> None:
        self._wake.set()

    def publish_operational_with(self, publish: Publish) -> None:
        """Publish operational events (an endpoint disabled, a delivery exhausted) through `publish`: the
        service's, which routes them as any event (the delivery layer cannot reach the service itself)."""
        self.recorder.publish = publish

    def problems(self) -> list[str]:
        """Why this dispatcher is not fit to deliver now; empty when it is."""
        if not self.running:
            return ["the dispatcher is not running"]
        if self._stopping:  # its side tasks are being stopped: they are down by design, not dead
            return ["the dispatcher is stopping"]
        return [f"side task {name} is not running" for name in self.supervisor.down()]

    @property
    def stalled_sends(self) -> int:
        return self._stalled

    async def run(self) -> None:
        """Deliver until `stop()`; then finish what is in flight (up to a grace period) and write it."""
        self.running = True
        self.supervisor.start("verihook-flusher", self.recorder.flush_loop)
        self.supervisor.start("verihook-lease-renewer", self.recorder.renew_leases)
        self.supervisor.start("verihook-pacer", self._pace_loop)
        if self._listen is not None:
            listen = self._listen
            # a store with nothing to listen to (one process on SQLite) returns at once
            self.supervisor.start("verihook-listen", lambda: listen(self.wake), may_return=True)
        for name, factory in self._side_tasks.items():
            self.supervisor.start(name, factory)
        try:
            while not self._stopping:
                try:
                    await self._cycle()
                except Exception:  # the store is unreachable, or a bug: say so, wait, go on
                    log.exception("dispatcher cycle failed; retrying")
                    await asyncio.sleep(STORE_RETRY_S)
            give_up_at = time.monotonic() + STOP_GRACE_S
            while self._tasks and time.monotonic() < give_up_at:  # lanes start workers while others finish
                await asyncio.wait(set(self._tasks), timeout=give_up_at - time.monotonic())
        finally:
            for task in self._tasks:
                task.cancel()
            await self.supervisor.stop()
            await self.recorder.flush_all(give_up_at=time.monotonic() + STOP_GRACE_S)
            await self.recorder.finish_publishing(give_up_at=time.monotonic() + STOP_GRACE_S)
            self.running = False

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._room.set()

    def _room_left(self) -> int:
        """How many more deliveries may be claimed: `max_in_flight` being sent, as many more unwritten."""
        limit = self.settings.max_in_flight
        return min(limit - self._live, 2 * limit - (len(self.recorder.held) - self._stalled))

    def _room_may_have_freed(self) -> None:
        if self._room_left() >= self._claim_at:
            self._room.set()

    async def _cycle(self) -> None:
        asked = min(self._room_left(), self.settings.claim_batch)
        if asked > 0:
            self._wake.clear()
            self._room.clear()
            due = await self.store.claim_due(self.clock(), asked)
            self._dispatch(due)
            self._pace()
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
        """Queue claimed deliveries on their lanes; destinations not in memory are looked up in a task."""
        now = self.clock()
        unknown = []
        for due in claimed:
            if not self.recorder.hold(due.id, now):
                continue
            self._live += 1
            destination = self.destinations.cached(due)
            if destination is None:
                unknown.append(due)
            else:
                self._enqueue(due, destination)
        if unknown:
            self._spawn(self._look_up(unknown))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look_up(self, deliveries: list[DueDelivery]) -> None:
        for due in deliveries:  # one at a time: the first of an endpoint loads it, the others find it cached
            try:
                destination = await self.destinations.for_delivery(due)
            except Exception as error:
                if is_unavailable(error):  # the store is away: the delivery waits for its lease
                    log.warning("looking up delivery %s failed (%s); it is left to its lease", due.id, error)
                    self.recorder.release(due.id)
                    self._done(counted=True)
                    continue
                log.exception("delivery %s cannot be prepared; recorded as a failed attempt", due.id)
                self._finish(due, self.destinations.fallback(due), internal_failure(error), counted=True)
                continue
            self._enqueue(due, destination)

    def _enqueue(self, due: DueDelivery, destination: Destination) -> None:
        url = destination.url or due.url
        if destination.refusal is not None:
            refused = Sent(Outcome(None, {}, b"", 0.0, AttemptError.ENDPOINT_DISABLED, destination.refusal), {}, False)
            self._finish(due, destination, refused, counted=True)
            return
        key = destination.endpoint_id or url
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(key, due.tenant_id, self.settings.per_endpoint_in_flight, self.clock())
        lane.limit(destination.rate_limit_per_s, self.clock())
        lane.queue.append(Work(due, destination, url))
        if lane.may_start_worker():
            lane.workers += 1
            self._spawn(self._work(lane))

    async def _work(self, lane: Lane) -> None:
        """One of a lane's workers: send its queued deliveries one after another while it has work and room, no
        faster than the destination's rate limit and never during a Retry-After it asked for."""
        try:
            while not lane.worker_should_stop():
                wait = lane.send_wait(self.clock())
                if wait > 0:  # the queue stays on the lane meanwhile: the pacer may still hand it back
                    await asyncio.sleep(wait)
                    continue
                due, destination, url = lane.queue.popleft()
                token = next(self._tokens)
                lane.start_send(token, self.clock())
                try:
                    message = _message(due)
                    if due.cycle_attempts and destination.rules.profile.defaults.identical_retry:
                        await self._replay_first_request(due, message)
                    sent = await self.sender.send(destination, url, message)
                except Exception as error:
                    log.exception("delivery %s failed in Verihook; recorded as a failed attempt", due.id)
                    sent = internal_failure(error)
                timed_out = sent.outcome.error is AttemptError.TIMEOUT
                stalled = lane.finish_send(token, sent.outcome.latency_ms / 1000, timed_out, self.clock())
                if sent.outcome.status_code == 429 and not destination.rules.profile.defaults.identical_retry:
                    now = self.clock()
                    lane.throttled(parse_retry_after(sent.outcome.headers.get("retry-after"), now), now)
                if stalled:
                    self._stalled -= 1
                self._finish(due, destination, sent, counted=not stalled)
                while lane.may_start_worker():  # the window grew: more workers may take the queue
                    lane.workers += 1
                    self._spawn(self._work(lane))
        finally:
            lane.workers -= 1

    def _finish(self, due: DueDelivery, destination: Destination, sent: Sent, *, counted: bool) -> None:
        try:
            recorded = result_of(due, destination, sent, self.clock())
            self.recorder.record(recorded, destination.rules.profile.name, destination.endpoint_id)
            next_at = recorded.result.next_attempt_at
            if next_at is not None and (self._next_known_due is None or next_at < self._next_known_due):
                self._next_known_due = next_at
            if recorded.result.disable_endpoint_id:
                self.destinations.forget(recorded.result.disable_endpoint_id)
        except Exception:
            log.exception("the outcome of delivery %s cannot be recorded; it is left to its lease", due.id)
            self.recorder.release(due.id)
        self._done(counted=counted)

    def _done(self, *, counted: bool) -> None:
        if counted:
            self._live -= 1
        self._room_may_have_freed()

    async def _pace_loop(self) -> None:
        while True:
            await asyncio.sleep(PACE_EVERY_S)
            self._pace()

    def _pace(self) -> None:
        """Take stalled sends out of the room, share the room fairly, and hand back what lanes should not keep."""
        now = self.clock()
        paused_s = self._paused_s(now)
        if paused_s:
            for lane in self._lanes.values():
                lane.unheard(paused_s, now)
        self._mark_stalled(now)
        limit = self.settings.max_in_flight
        slow = [lane for lane in self._lanes.values() if lane.is_slow(now)]
        shares = lane_shares(slow, limit - limit // RESERVE_PART) if slow else {}
        deferrals: list[tuple[str, float]] = []
        for key, lane in list(self._lanes.items()):
            share = shares.get(key)
            lane.send_cap = lane.max_window if share is None else max(1, share)
            deferrals += lane.shed(now, lane.queue_keep(now, share))
            if lane.idle(now) and now - lane.used_at > LANE_IDLE_S:
                del self._lanes[key]
        if deferrals:
            self._live -= len(deferrals)
            self.metrics.deferred += len(deferrals)
            self._spawn(self._defer(deferrals, now))
        self._room_may_have_freed()

    def _paused_s(self, now: float) -> float:
        """How long this process did not run since the pacer last ran (it runs at least every PACE_EVERY_S): a
        receiver's silence over that time is ours, not the receiver's. 0 when it ran on time."""
        paced_at, self._paced_at = self._paced_at, now
        late_s = 0.0 if paced_at is None else now - paced_at - PACE_EVERY_S
        return late_s if late_s >= PAUSE_MIN_S else 0.0

    def _mark_stalled(self, now: float) -> None:
        room_for_stalled = STALLED_PER_ROOM * self.settings.max_in_flight - self._stalled
        for lane in self._lanes.values():
            if room_for_stalled <= 0:
                return
            for token in lane.newly_stalled(now)[:room_for_stalled]:
                lane.stalled.add(token)
                self._stalled += 1
                self._live -= 1
                room_for_stalled -= 1

    async def _defer(self, deferrals: list[tuple[str, float]], now: float) -> None:
        try:
            await self.store.defer(deferrals, now)
        except Exception:
            log.exception("handing back %d deliveries failed; they are left to their leases", len(deferrals))
        for delivery_id, _ in deferrals:
            self.recorder.release(delivery_id)
        first_due = min(at for _, at in deferrals)
        if self._next_known_due is None or first_due < self._next_known_due:
            self._next_known_due = first_due

    async def _replay_first_request(self, due: DueDelivery, message: Message) -> None:
        """A retry of an identical-retry profile (Incode) resends the cycle's first request, if it was kept."""
        stored = await self.store.first_request(due.id)
        first = orjson.loads(stored) if stored else None
        if first is not None and first["cycle"] == message.cycle_started_at:
            message.replay = [(name, value) for name, value in first["headers"]]


def _message(due: DueDelivery) -> Message:
    return Message(event_id=due.event_id, event_type=due.event_type, data_json=due.event_data_json,
                   event_created_at=due.event_created_at, cycle_started_at=due.cycle_started_at or due.created_at,
                   subject_id=due.subject_id, sequence=due.sequence)
