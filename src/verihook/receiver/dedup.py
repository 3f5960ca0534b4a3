"""Drop repeated notifications by their `webhook-id`: every attempt of one notification carries the same id.

    first = deduplicator.claim(webhook.id)     # True the first time an id is seen
    if first:
        try:
            process(webhook)
        except Exception:
            deduplicator.release(webhook.id)   # so the sender's retry is processed, not dropped
            raise

In memory, bounded (the oldest ids are forgotten first) and thread-safe. Several receiver processes need a shared
store instead: a table with a unique key on the id does the same job.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

DEFAULT_MAX_IDS = 100_000
DEFAULT_TTL_S = 3 * 24 * 3600.0  # longer than the longest default retry schedule (about 28 hours)


class Deduplicator:
    def __init__(self, *, max_ids: int = DEFAULT_MAX_IDS, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_ids < 1:
            raise ValueError("max_ids must be at least 1")
        self._seen: OrderedDict[str, float] = OrderedDict()  # id -> when it was claimed, oldest first
        self._max_ids = max_ids
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()

    def claim(self, webhook_id: str) -> bool:
        """True if this id was not seen within the time to live (and remember it); False for a duplicate."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            if webhook_id in self._seen:
                return False
            self._seen[webhook_id] = now
            while len(self._seen) > self._max_ids:
                self._seen.popitem(last=False)
            return True

    def release(self, webhook_id: str) -> None:
        """Forget an id, so that its next attempt counts as new (its processing failed)."""
        with self._lock:
            self._seen.pop(webhook_id, None)

    @contextmanager
    def once(self, webhook_id: str) -> Iterator[bool]:
        """`with deduplicator.once(id) as first:`; an exception inside releases the id again."""
        first = self.claim(webhook_id)
        try:
            yield first
        except BaseException:
            if first:
                self.release(webhook_id)
            raise

    def __contains__(self, webhook_id: object) -> bool:
        with self._lock:
            self._expire(self._clock())
            return webhook_id in self._seen

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest_id, claimed_at = next(iter(self._seen.items()))
            if now - claimed_at < self._ttl_s:
                return
            del self._seen[oldest_id]
