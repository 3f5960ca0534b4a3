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


class Work(NamedTuple):
    due: DueDelivery
    destination: Destination
    url: str


class Lane:
    __slots__ = ("answered_at", "key", "latency_s", "max_window", "next_free", "queue", "send_cap", "sends",
                 "stalled", "tenant_id", "used_at", "window", "workers")

    def __init__(self, key: str, tenant_id: str, max_window: int, now: float) -> None:
        self.key = key
        self.tenant_id = tenant_id
        self.queue: deque[Work] = deque()
        self.workers = 0
        self.max_window = max_window
        self.window = min(INITIAL_WINDOW, max_window)  # grows by one per answer, halves on a timeout
        self.send_cap = max_window  # lower while the lane is over its fair share of a contended room
        self.sends: dict[int, float] = {}  # send token -> when it started
        self.stalled: set[int] = set()  # sends out longer than stall_after(): they no longer count in the room
        self.latency_s: float | None = None  # how long a send takes, smoothed; None until one has finished
        self.answered_at = now  # when a send last finished, or sending began after the lane was idle
        self.next_free = 0.0  # the latest time a delivery handed back was made due again
        self.used_at = now

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
        if not self.sends:
            self.answered_at = now  # silence is counted from the first send after an idle spell
        self.sends[token] = now
        self.used_at = now

    def finish_send(self, token: int, latency_s: float, timed_out: bool, now: float) -> bool:
        """Note a send's end; True when it had stalled (it no longer counted in the room)."""
        self.sends.pop(token, None)
        was_stalled = token in self.stalled
        self.stalled.discard(token)
        if timed_out:
            self.window = max(1, self.window // 2)
        else:
            known = self.latency_s
            self.latency_s = latency_s if known is None else known + LATENCY_WEIGHT * (latency_s - known)
            self.window = min(self.max_window, self.window + 1)
        self.answered_at = now
        self.used_at = now
        return was_stalled

    def stall_after(self) -> float:
        return max(STALL_MIN_S, STALL_FACTOR * (self.latency_s or 0.0))

    def newly_stalled(self, now: float) -> list[int]:
        limit = self.stall_after()
        return [token for token, started in self.sends.items()
                if token not in self.stalled and now - started > limit]

    def silent(self, now: float) -> bool:
        """Sends are out and none has been answered for longer than this destination's answers usually take."""
        return bool(self.sends) and now - self.answered_at > self.stall_after()

    def capacity(self, now: float) -> float:
        """Sends a second at the current window. While nothing has been answered for longer than a send usually
        takes (a receiver that hangs), a send takes at least that long."""
        waited = now - self.answered_at if self.sends else 0.0
        latency = waited if self.latency_s is None else max(self.latency_s, waited)
        return self.window / latency if latency > 0 else float("inf")

    def is_slow(self, now: float) -> bool:
        """What it holds takes longer than HOLD_S to clear at its pace."""
        return self.held > self.capacity(now) * HOLD_S

    def queue_keep(self, now: float, share: int | None) -> int:
        """How many queued deliveries this lane keeps: none while silent; until its first answer, a window's
        worth; else what it sends in about HOLD_S (at least a window); within `share` of the room if given."""
        if self.silent(now):
            return 0
        keep = self.window if self.latency_s is None else max(self.window, int(self.capacity(now) * HOLD_S))
        if share is not None:
            keep = min(keep, max(0, share - self.live_sends))
        return keep

    def shed(self, now: float, keep: int) -> list[tuple[str, float]]:
        """Take the newest queued deliveries beyond `keep` out of the queue; say when each is due again."""
        if len(self.queue) <= keep:
            return []
        capacity = self.capacity(now)
        spacing = 1 / (capacity * FEED_SURPLUS) if capacity > 0 else DEFER_MAX_S
        horizon = now + DEFER_MAX_S
        # until its first answer nobody knows the lane's pace: what it cannot take waits a little, not at once
        start = now + keep * spacing if self.latency_s is not None else now + UNKNOWN_PACE_WAIT_S
        at = min(max(self.next_free, start), horizon)
        excess = [self.queue.pop().due for _ in range(len(self.queue) - keep)]
        deferrals = []
        for due in reversed(excess):
            at = min(at + spacing, horizon)
            deferrals.append((due.id, at))
        self.next_free = at
        return deferrals

    def idle(self) -> bool:
        return not self.workers and not self.queue and not self.sends
