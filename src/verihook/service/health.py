"""Liveness, readiness and the metrics page: what an operator's probe and scraper are told."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from verihook.metrics import Metrics
from verihook.store.base import Store
from verihook.store.errors import is_unavailable


@dataclass(slots=True)
class DispatcherState:
    """What the health service needs of a dispatcher: why it cannot deliver (empty when it can), and counts."""

    problems: Callable[[], list[str]]
    side_task_restarts: Callable[[], Mapping[str, int]]
    stalled_sends: Callable[[], int]


def is_store_unavailable(error: BaseException) -> bool:
    """Whether an error means the database cannot be reached now (the API answers 503, not 500)."""
    return is_unavailable(error)


class Health:
    def __init__(self, store: Store, metrics: Metrics, clock: Callable[[], float], stall_after_s: float,
                 dispatcher: DispatcherState | None) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._stall_after_s = stall_after_s
        self._dispatcher = dispatcher

    def watch(self, dispatcher: DispatcherState) -> None:
        """Report this dispatcher from now on (dispatcher processes that replace the process's own)."""
        self._dispatcher = dispatcher

    async def readiness(self, *, delivers: bool) -> list[str]:
        """Why this process is not ready (empty when it is). `delivers`: it runs a dispatcher, so a dispatcher
        that stopped, a side task that is down, or deliveries left waiting past the stall bound count too."""
        try:
            await self._store.ping()
        except Exception as error:
            what = "unreachable" if is_unavailable(error) else "failing"
            return [f"the store is {what}: {type(error).__name__}"]
        if not delivers or self._dispatcher is None:
            return []
        problems = self._dispatcher.problems()
        waited = await self.oldest_due_wait_s()
        if self._stall_after_s > 0 and waited > self._stall_after_s:
            problems.append(f"deliveries are stalled: the oldest due delivery has waited {waited:.0f} s to be "
                            f"sent (more than VERIHOOK_STALL_AFTER_S={self._stall_after_s:g})")
        return problems

    async def oldest_due_wait_s(self) -> float:
        now = self._clock()
        oldest = await self._store.oldest_due_at(now)
        return 0.0 if oldest is None else max(0.0, now - oldest)

    async def metrics_text(self, *, delivers: bool) -> str:
        stats = await self._store.queue_stats()
        now = self._clock()
        oldest = 0.0 if stats.oldest_pending_created_at is None else max(0.0, now - stats.oldest_pending_created_at)
        waited = await self.oldest_due_wait_s()
        gauges = {"verihook_oldest_due_wait_seconds": waited}
        restarts: Mapping[str, int] = {}
        if delivers and self._dispatcher is not None:
            stalled = self._stall_after_s > 0 and waited > self._stall_after_s
            gauges["verihook_deliveries_stalled"] = float(stalled)
            gauges["verihook_stalled_sends"] = float(self._dispatcher.stalled_sends())
            gauges["verihook_side_tasks_down"] = float(len(self._dispatcher.problems()))
            restarts = self._dispatcher.side_task_restarts()
        return self._metrics.render(stats.pending, oldest, gauges, restarts)
