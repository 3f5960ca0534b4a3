"""Recording: what an attempt's answer makes of its delivery (a pure function), the outcome buffer written in
groups, and the leases of what is claimed but not yet written.

A delivery counts as done only once its outcome is written (at-least-once). Until then it stays held here: never
claimed twice by this process, its lease renewed every LEASE_RENEW_EVERY_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import orjson

from verihook import operational
from verihook.config import DispatcherSettings
from verihook.delivery.destinations import Destination
from verihook.delivery.sender import Sent, excerpt
from verihook.delivery.transport import Outcome
from verihook.errors import UnusableSetting
from verihook.logs import log_attempt
from verihook.metrics import AttemptTally, Metrics
from verihook.model import Attempt, AttemptError, DeliveryResult, DeliveryStatus, DueDelivery, EndpointDisabled
from verihook.operational import OperationalEvent, is_operational
from verihook.policy import next_retry_delay, parse_retry_after
from verihook.store.base import Store

log = logging.getLogger("verihook.recorder")

LEASE_RENEW_EVERY_S = 5.0
STORE_RETRY_S = 1.0
PUBLISH_TRIES = 30  # an operational event is published again while the store is away, up to this many times


class Recorded(NamedTuple):
    result: DeliveryResult
    outcome: str  # succeeded | retrying | failed, as the metrics name it
    exhausted: OperationalEvent | None = None  # published once the failure is written


Publish = Callable[[list[OperationalEvent]], Awaitable[None]]


def result_of(due: DueDelivery, destination: Destination, sent: Sent, now: float) -> Recorded:
    """The attempt record and the delivery's next state after `sent`: done, retry after a delay, or failed for
    good (and the endpoint disabled where its answer and profile say so)."""
    outcome = sent.outcome
    attempt = Attempt(
        delivery_id=due.id, number=due.attempt_count + 1, at=now - outcome.latency_ms / 1000,
        status_code=outcome.status_code, latency_ms=round(outcome.latency_ms, 3),
        error=None if outcome.error is None else outcome.error.value, error_detail=outcome.error_detail,
        request_headers=sent.request_headers, response_headers=outcome.headers,
        response_body=excerpt(outcome.body))
    disable_reason = _disable_reason(sent, destination)
    retry_in_s = (None if sent.succeeded or sent.declined or disable_reason or destination.refusal is not None
                  else _retry_in_s(sent, destination, due.cycle_attempts, now))
    if sent.succeeded:
        status, next_at, label = DeliveryStatus.SUCCEEDED, None, "succeeded"
    elif retry_in_s is not None:
        status, next_at, label = DeliveryStatus.PENDING, now + retry_in_s, "retrying"
    else:
        status, next_at, label = DeliveryStatus.FAILED, None, "failed"
    result = DeliveryResult(
        delivery_id=due.id, event_id=due.event_id, attempt=attempt, status=status, next_attempt_at=next_at,
        disable_endpoint_id=destination.endpoint_id if disable_reason else None,
        disable_reason=disable_reason, cycle_started_at=due.cycle_started_at,
        first_request=first_request_of(due, destination, sent) if status is DeliveryStatus.PENDING else None,
        streak_endpoint_id=destination.endpoint_id if destination.refusal is None else None,
        auto_disable=destination.auto_disable)
    exhausted = None
    if status is DeliveryStatus.FAILED and not is_operational(due.event_type):  # no news of news: no loop
        exhausted = operational.delivery_exhausted(
            due.tenant_id, event_id=due.event_id, delivery_id=due.id, endpoint_id=due.endpoint_id, url=due.url,
            attempts=attempt.number, last_status_code=attempt.status_code, last_error=attempt.error)
    return Recorded(result, label, exhausted)


def _disable_reason(sent: Sent, destination: Destination) -> str | None:
    """Why the endpoint stops receiving after this answer (a 410 where its profile says so), or None."""
    if sent.succeeded or sent.declined:
        return None
    if (sent.outcome.status_code == 410 and destination.endpoint_id is not None
            and destination.rules.profile.defaults.disable_on_gone):
        return "the receiver answered 410 Gone"
    return None


def _retry_in_s(sent: Sent, destination: Destination, cycle_attempts: int, now: float) -> float | None:
    """The delay before the next attempt of the cycle (Retry-After honoured for 429 and 503, except where a retry
    must repeat the first request), or None when the policy has no attempt left."""
    defaults = destination.rules.profile.defaults
    status = sent.outcome.status_code
    honours_retry_after = status in (429, 503) and not defaults.identical_retry
    retry_after = parse_retry_after(sent.outcome.headers.get("retry-after"), now) if honours_retry_after else None
    return next_retry_delay(destination.rules.retry, cycle_attempts + 1, retry_after)


def first_request_of(due: DueDelivery, destination: Destination, sent: Sent) -> bytes | None:
    """What an identical retry must repeat: the headers of the cycle's first request that went out (a replay
    carries no `wire_headers`: it is that request already)."""
    if sent.wire_headers is None or not destination.rules.profile.defaults.identical_retry:
        return None
    cycle = due.cycle_started_at or due.created_at
    return orjson.dumps({"cycle": cycle, "headers": sent.wire_headers})


def internal_failure(error: BaseException) -> Sent:
    """An attempt that failed in Verihook itself (a secret that does not decode, a header the client refuses, a
    bug): recorded and retried like any failed attempt. The detail names the error's type, not its text, which
    may quote a secret."""
    detail = f"Verihook could not prepare or send the request ({type(error).__name__})"
    if isinstance(error, UnusableSetting):
        detail += f": {error}"
    return Sent(Outcome(None, {}, b"", 0.0, AttemptError.INTERNAL, detail), {}, False)


class Recorder:
    def __init__(self, store: Store, settings: DispatcherSettings, metrics: Metrics,
                 clock: Callable[[], float] = time.time, on_written: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.on_written = on_written
        self.held: dict[str, float] = {}  # delivery id -> when claimed; until its outcome is written or handed back
        self.publish: Publish | None = None  # operational events go out through it (the service's publish)
        self._results: list[DeliveryResult] = []
        self._tally = AttemptTally()  # the metrics of the attempts recorded since the last write began
        self._exhausted: dict[str, OperationalEvent] = {}  # delivery id -> its news, published once written
        self._publishing: set[asyncio.Task[None]] = set()
        self._flush_now = asyncio.Event()

    def hold(self, delivery_id: str, now: float) -> bool:
        """Hold a claimed delivery; False when it is held already (claimed again while its outcome is unwritten)."""
        if delivery_id in self.held:
            return False
        self.held[delivery_id] = now
        return True

    def release(self, delivery_id: str) -> None:
        """Drop a delivery that goes back to the store without an outcome (handed back, or left to its lease)."""
        self.held.pop(delivery_id, None)

    def record(self, recorded: Recorded, profile: str, endpoint_id: str | None) -> None:
        result = recorded.result
        attempt = result.attempt
        self._tally.add(recorded.outcome, profile,
                        None if attempt.status_code is None else attempt.latency_ms / 1000)
        if recorded.exhausted is not None:
            self._exhausted[result.delivery_id] = recorded.exhausted
        log_attempt(event_id=result.event_id, delivery_id=result.delivery_id, endpoint_id=endpoint_id,
                    attempt=attempt.number, status_code=attempt.status_code, latency_ms=attempt.latency_ms,
                    outcome=recorded.outcome, error=attempt.error_detail or attempt.error)
        self._results.append(result)
        # Unwritten outcomes hold room too (at most max_in_flight of them): write before half of that is waiting.
        if len(self._results) >= min(self.settings.flush_batch, self.settings.max_in_flight // 2):
            self._flush_now.set()

    @property
    def unwritten(self) -> int:
        return len(self._results)

    async def flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.settings.flush_interval_s)
            self._flush_now.clear()
            await self.flush_all()

    async def flush_all(self, give_up_at: float | None = None) -> None:
        """Write every buffered outcome, retrying while the store fails (until `give_up_at`, if given); their
        attempts are counted in the metrics as the write begins."""
        if self._tally:
            tally, self._tally = self._tally, AttemptTally()
            try:
                self.metrics.attempts(tally)
            except Exception:  # figures lost, outcomes still written
                log.exception("counting %d attempts in the metrics failed", sum(tally.outcomes.values()))
        while self._results:
            batch, self._results = self._results, []
            write = asyncio.ensure_future(self.store.record_results(batch, self.clock()))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:  # the flusher is stopped or killed: the write goes on and is accounted
                write.add_done_callback(lambda done, batch=batch: self._written(batch, done))  # type: ignore[misc]
                raise
            except Exception:
                pass
            if self._written(batch, write):
                continue
            if give_up_at is not None and time.monotonic() >= give_up_at:
                return
            await asyncio.sleep(STORE_RETRY_S)

    def _written(self, batch: list[DeliveryResult], write: asyncio.Future[None]) -> bool:
        """Account for a finished write: release its deliveries, or keep its outcomes to write again."""
        error = None if write.cancelled() else write.exception()
        if write.cancelled() or error is not None:
            log.error("writing %d outcomes failed (%r); keeping them to write again", len(batch), error)
            self._results = batch + self._results
            return False
        self.metrics.outcome_writes += 1
        for result in batch:
            self.held.pop(result.delivery_id, None)
        self._tell(batch, write.result() or [])
        self.on_written()
        return True

    def _tell(self, batch: list[DeliveryResult], disabled: list[EndpointDisabled]) -> None:
        """Count the endpoints this write disabled, and publish the news of them and of exhausted deliveries."""
        news = [self._exhausted.pop(r.delivery_id) for r in batch if r.delivery_id in self._exhausted]
        for endpoint in disabled:
            self.metrics.endpoint_disabled()
            news.append(operational.endpoint_disabled(endpoint.tenant_id, endpoint.endpoint_id, endpoint.reason,
                                                      self.clock()))
        if news and self.publish is not None:
            task = asyncio.ensure_future(self._publish(self.publish, news))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def finish_publishing(self, give_up_at: float) -> None:
        """Wait, until `give_up_at` (monotonic), for the operational events still being published: a stop must
        not drop the news of the outcomes its last write has just recorded."""
        if self._publishing:
            await asyncio.wait(set(self._publishing), timeout=max(0.0, give_up_at - time.monotonic()))

    async def _publish(self, publish: Publish, news: list[OperationalEvent]) -> None:
        for attempt in range(PUBLISH_TRIES):
            try:
                await publish(news)
                return
            except Exception:
                if attempt == PUBLISH_TRIES - 1:
                    log.exception("publishing %d operational events failed; they are lost", len(news))
                    return
                await asyncio.sleep(STORE_RETRY_S)

    async def renew_leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_EVERY_S)
            now = self.clock()
            held = [delivery_id for delivery_id, since in self.held.items() if now - since >= LEASE_RENEW_EVERY_S]
            if held:
                try:
                    await self.store.extend_leases(held, now)
                except Exception:
                    log.exception("renewing %d leases failed", len(held))
