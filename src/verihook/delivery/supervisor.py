"""Side tasks under a monitor: a task that ends while it should be running is logged and started again.

The dispatcher's flusher, lease renewer and pacer and the store's LISTEN task are loops that must never end while
the dispatcher runs. If one ends (an exception the loop did not expect, or a cancellation from outside), the
supervisor logs it, counts it, reports the task as down (so `/readyz` answers 503) and starts it again after a
short pause, doubled on each restart in a row up to RESTART_MAX_S and reset once the task has run for a while.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("verihook.supervisor")

RESTART_MIN_S = 0.2
RESTART_MAX_S = 5.0
STOP_TIMEOUT_S = 5.0  # how long stop() waits for the cancelled side tasks
STABLE_AFTER_S = 30.0  # a task that ran this long before it ended is restarted after the shortest pause again

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class _Watched:
    factory: TaskFactory
    may_return: bool  # returning is finishing (nothing more to do), not dying
    task: asyncio.Task[None] | None = None
    started_at: float = 0.0
    pause_s: float = RESTART_MIN_S
    finished: bool = False

    def running(self) -> bool:
        return self.finished or (self.task is not None and not self.task.done())


@dataclass(slots=True)
class Supervisor:
    """Runs named side tasks until `stop()`; `down()` names those not running now."""

    restarts: Counter[str] = field(default_factory=Counter)
    _watched: dict[str, _Watched] = field(default_factory=dict)
    _monitors: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False

    def start(self, name: str, factory: TaskFactory, *, may_return: bool = False) -> None:
        watched = _Watched(factory, may_return)
        self._watched[name] = watched
        self._monitors.append(asyncio.create_task(self._monitor(name, watched), name=f"{name}-monitor"))

    def down(self) -> list[str]:
        return sorted(name for name, watched in self._watched.items() if not watched.running())

    def task(self, name: str) -> asyncio.Task[None] | None:
        """The running task of that name (tests kill it to see it come back)."""
        watched = self._watched.get(name)
        return None if watched is None else watched.task

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Cancel every side task and wait for them, at most `timeout_s`: a task that does not end when cancelled
        (a cancellation lost inside a library) is left behind and named in the log, never waited for forever."""
        self._stopping = True
        for monitor in self._monitors:
            monitor.cancel()
        tasks = [w.task for w in self._watched.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        waited = {*self._monitors, *tasks}
        if waited:
            _, late = await asyncio.wait(waited, timeout=timeout_s)
            for task in late:
                log.error("side task %s did not end within %.0f s of its cancellation; left behind",
                          task.get_name(), timeout_s)
        self._monitors.clear()

    async def _monitor(self, name: str, watched: _Watched) -> None:
        while not self._stopping:
            watched.started_at = time.monotonic()
            watched.task = asyncio.create_task(watched.factory(), name=name)
            error: Exception | None = None
            try:
                await asyncio.shield(watched.task)
                if watched.may_return:
                    watched.finished = True
                    return
                how = "returned"
            except asyncio.CancelledError:
                if not watched.task.done():  # the monitor itself was cancelled: stop() is under way
                    raise
                how = "was cancelled"
            except Exception as exc:
                error, how = exc, f"failed: {exc!r}"
            if self._stopping:
                return
            ran_for = time.monotonic() - watched.started_at
            watched.pause_s = RESTART_MIN_S if ran_for > STABLE_AFTER_S else watched.pause_s
            self.restarts[name] += 1
            log.error("side task %s %s; starting it again in %.1f s", name, how, watched.pause_s, exc_info=error)
            await asyncio.sleep(watched.pause_s)
            watched.pause_s = min(RESTART_MAX_S, watched.pause_s * 2)
