"""A lane: the deliveries claimed for one destination (an endpoint, or a subject's own URL), its workers, and what
its answers have shown of it: how long a send takes, how many may be out at once, whether it has gone silent.

No I/O here: the dispatcher moves deliveries through lanes and asks them what to keep and what to hand back.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from verihook.delivery.destinations import Destination
from verihook.model import DueDelivery

INITIAL_WINDOW = 8  # sends a destination may have out before any has been answered (slow start)
HOLD_S = 1.0  # a lane keeps queued what it answers in about this long
LATENCY_WEIGHT = 0.1  # of the newest send in a lane's smoothed latency
STALL_MIN_S = 1.0  # a send out this long (and longer than STALL_FACTOR times the usual answer) has stalled
STALL_FACTOR = 4.0
FEED_SURPLUS = 1.5  # deliveries handed back come due this much faster than the lane's pace: never starved
DEFER_MAX_S = 30.0  # deliveries handed back are due again within this long
UNKNOWN_PACE_WAIT_S = 0.2  # what a lane with no answer yet cannot take is due again this much later
MIN_LATENCY_S = 0.001  # a lane's pace counts no send as quicker (one that sent nothing took 0 s)
BURST_S = 0.2  # a rate-limited lane may send this long's worth of its rate at once (at least one request)
THROTTLE_FACTOR = 0.5  # a 429 answer cuts a rate-limited lane's rate by this much ...
RECOVERY_PART = 0.05  # ... and each other answer gives back this part of its configured rate
THROTTLED_FLOOR_PER_S = 0.05  # a throttled lane still sends one request every 20 s
MAX_PAUSE_S = 300.0  # the longest a Retry-After pauses a whole lane (the delivery's own retry honours it in full)


class TokenBucket:
    """At most `rate` sends a second (the endpoint's rate_limit_per_s, lowered after a 429), in bursts of at most
    BURST_S of it."""

    __slots__ = ("at", "configured", "rate", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.configured = self.rate = rate
        self.tokens = self.capacity
        self.at = now

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate * BURST_S)

    def wait(self, now: float) -> float:
        """How long until a send may start (0: now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0

    def throttle(self) -> None:
        self.rate = max(min(THROTTLED_FLOOR_PER_S, self.configured), self.rate * THROTTLE_FACTOR)
        self.tokens = min(self.tokens, self.capacity)

    def recover(self) -> None:
        self.rate = min(self.configured, self.rate + self.configured * RECOVERY_PART)

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now


class Work(NamedTuple):
    due: DueDelivery
    destination: Destination
    url: str


class Lane:
    __slots__ = ("answered_at", "backed_off", "bucket", "key", "latency_s", "max_window", "next_free", "paused_sends",
                 "paused_until", "queue", "send_cap", "sends", "stalled", "tenant_id", "used_at", "window", "workers")

    def __init__(self, key: str, tenant_id: str, max_window: int, now: float) -> None:
        self.key = key
        self.tenant_id = tenant_id
        self.queue: deque[Work] = deque()
        self.workers = 0
        self.max_window = max_window
        self.window = min(INITIAL_WINDOW, max_window)  # grows by one per answer, halves on a timeout
        self.backed_off = False  # the window has been halved (a timeout, a 429): slow start is over
        self.send_cap = max_window  # lower while the lane is over its fair share of a contended room
        self.sends: dict[int, float] = {}  # send token -> when it started
        self.stalled: set[int] = set()  # sends out longer than stall_after(): they no longer count in the room
        self.paused_sends: dict[int, float] = {}  # send token -> how long this process was paused during it
        self.latency_s: float | None = None  # how long a send takes, smoothed; None until one has finished
        self.answered_at = now  # when a send last finished, or sending began after the lane was idle
        self.next_free = 0.0  # the latest time a delivery handed back was made due again
        self.used_at = now
        self.bucket: TokenBucket | None = None  # set for an endpoint with a rate limit
        self.paused_until = 0.0  # a 429's Retry-After holds every send to the endpoint until then

    def limit(self, rate_per_s: float | None, now: float) -> None:
        """Apply the endpoint's rate limit (None: none), keeping what the lane has learned if it is unchanged."""
        if rate_per_s is None:
            self.bucket = None
        elif self.bucket is None or self.bucket.configured != rate_per_s:
            self.bucket = TokenBucket(rate_per_s, now)

    def send_wait(self, now: float) -> float:
        """How long the next send must wait for the rate limit or a Retry-After (0: it may start now)."""
        wait = self.paused_until - now
        if self.bucket is not None:
            wait = max(wait, self.bucket.wait(now))
        return max(0.0, wait)

    def throttled(self, retry_after_s: float | None, now: float) -> None:
        """A 429 answer: fewer sends at once, a lower rate, and no send at all during its Retry-After."""
        self.window = max(1, self.window // 2)
        self.backed_off = True
        if self.bucket is not None:
            self.bucket.throttle()
        if retry_after_s:
            self.paused_until = max(self.paused_until, now + min(retry_after_s, MAX_PAUSE_S))

    @property
    def live_sends(self) -> int:
        return len(self.sends) - len(self.stalled)

    @property
    def held(self) -> int:
        """What this lane holds of the room: deliveries queued and sends out that have not stalled."""
        return len(self.queue) + self.live_sends

    def may_start_worker(self) -> bool:
        return bool(self.queue) and self.workers < min(self.window, self.send_cap)

    def worker_should_stop(self) -> bool:
        return not self.queue or self.workers > min(self.window, self.send_cap)

    def start_send(self, token: int, now: float) -> None:
        if self.bucket is not None:
            self.bucket.take(now)
        if not self.sends:
            self.answered_at = now  # silence is counted from the first send after an idle spell
        self.sends[token] = now
        self.used_at = now

    def finish_send(self, token: int, latency_s: float, timed_out: bool, now: float) -> bool:
        """Note a send's end; True when it had stalled (it no longer counted in the room). Its latency counts
        without a pause of this process it spanned (`unheard`)."""
        self.sends.pop(token, None)
        latency_s = max(0.0, latency_s - self.paused_sends.pop(token, 0.0))
        was_stalled = token in self.stalled
        self.stalled.discard(token)
        if timed_out:
            self.window = max(1, self.window // 2)
            self.backed_off = True
        else:
            if self.bucket is not None:
                self.bucket.recover()
            known = self.latency_s
            self.latency_s = latency_s if known is None else known + LATENCY_WEIGHT * (latency_s - known)
            self.window = min(self.max_window, self.window + 1)
        self.answered_at = now
        self.used_at = now
        return was_stalled

    def unheard(self, paused_s: float, now: float) -> None:
        """This process did not run for `paused_s` (no CPU, a blocked loop): no answer could be heard meanwhile,
        so that time counts neither in the lane's silence nor in its sends' ages."""
        self.answered_at = min(now, self.answered_at + paused_s)
        for token, started in self.sends.items():
            self.sends[token] = min(now, started + paused_s)
            self.paused_sends[token] = self.paused_sends.get(token, 0.0) + paused_s

    def stall_after(self) -> float:
        return max(STALL_MIN_S, STALL_FACTOR * (self.latency_s or 0.0))

    def newly_stalled(self, now: float) -> list[int]:
        limit = self.stall_after()
        return [token for token, started in self.sends.items()
                if token not in self.stalled and now - started > limit]

    def silent(self, now: float) -> bool:
        """Sends are out and none has been answered for longer than this destination's answers usually take."""
        return bool(self.sends) and now - self.answered_at > self.stall_after()

    def capacity(self, now: float, window: int | None = None) -> float:
        """Sends a second at the current window (or `window`). While nothing has been answered for longer than a
        send usually takes (a receiver that hangs), a send takes at least that long."""
        waited = now - self.answered_at if self.sends else 0.0
        latency = waited if self.latency_s is None else max(self.latency_s, waited, MIN_LATENCY_S)
        pace = (window or self.window) / latency if latency > 0 else float("inf")
        return pace if self.bucket is None else min(pace, self.bucket.rate)

    def is_slow(self, now: float) -> bool:
        """What it holds takes longer than HOLD_S to clear at its pace."""
        return self.held > self.capacity(now) * HOLD_S

    def queue_keep(self, now: float, share: int | None) -> int:
        """How many queued deliveries this lane keeps: none while silent; until its first answer, a window's
        worth; else what it sends in about HOLD_S (at least a window); within `share` of the room if given."""
        if self.silent(now) or self.paused_until > now + HOLD_S:
            return 0
        keep = self.window if self.latency_s is None else max(self.window, int(self.capacity(now) * HOLD_S))
        if share is not None:
            keep = min(keep, max(0, share - self.live_sends))
        return keep

    def shed(self, now: float, keep: int) -> list[tuple[str, float]]:
        """Take the newest queued deliveries beyond `keep` out of the queue; say when each is due again."""
        if len(self.queue) <= keep:
            return []
        horizon = max(now + DEFER_MAX_S, self.paused_until)
        if self.latency_s is None and self.bucket is None and not self.silent(now):
            # Until its first answer nobody knows the lane's pace: what it cannot take waits a little, not at once,
            # and every claim's excess alike (a pace guessed from the wait so far, each claim's after the last's,
            # spread a healthy backlog over DEFER_MAX_S when its first answer was slow to come).
            at = min(max(now + UNKNOWN_PACE_WAIT_S, self.paused_until), horizon)
            excess = [self.queue.pop().due for _ in range(len(self.queue) - keep)]
            self.next_free = max(self.next_free, at)
            return [(due.id, at) for due in reversed(excess)]
        # A lane still in slow start (no timeout, no 429 yet) will have its whole window out within a few answers:
        # what it hands back comes due at that pace, not at its first windows'.
        capacity = self.capacity(now, self.max_window if not self.backed_off else None)
        spacing = 1 / (capacity * FEED_SURPLUS) if capacity > 0 else DEFER_MAX_S
        start = now + keep * spacing if self.latency_s is not None or self.bucket is not None else \
            now + UNKNOWN_PACE_WAIT_S
        start = max(start, self.paused_until)
        at = min(max(self.next_free, start), horizon)
        excess = [self.queue.pop().due for _ in range(len(self.queue) - keep)]
        deferrals = []
        for due in reversed(excess):
            at = min(at + spacing, horizon)
            deferrals.append((due.id, at))
        self.next_free = at
        return deferrals

    def idle(self, now: float) -> bool:
        """Nothing queued or out, and no Retry-After to keep: the lane may be forgotten."""
        return not self.workers and not self.queue and not self.sends and self.paused_until <= now
