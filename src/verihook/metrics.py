"""Verihook's Prometheus metrics, through prometheus-client, in a registry of their own per runtime.

One `Metrics` per runtime (tests run many runtimes in one process, each with its own figures). Callers count
with `attempts(tally)` (an `AttemptTally` of many attempts at once), `deferred += n`, `outcome_writes += 1`,
`event_published(profile)`, `endpoint_disabled()`, `oauth_token_request(outcome)`; `render(pending,
oldest_pending_age_s)` is the text page of `/metrics`, the two queue gauges read from the store at scrape time.

Several processes (dispatchers of one `serve`, workers beside an API): when `PROMETHEUS_MULTIPROC_DIR` is set in
the environment of every process before it starts (read by `Settings` as `metrics_dir` and handed to `Metrics`),
prometheus-client keeps each process's counters and histograms in files there, and `render` answers the sum over
every process that has written to it (its multiprocess mode). The directory must be empty when the processes
start. The process collectors (CPU, memory, file descriptors) then describe only the process that answers the
scrape, and are left out.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import values as prometheus_values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from verihook.config import METRICS_DIR_ENV

ATTEMPT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TOKEN_OUTCOMES = ("issued", "failed")
RETENTION_KINDS = ("events", "deliveries", "attempts")
GAUGE_HELP = {
    "verihook_oldest_due_wait_seconds": "How long the due delivery waiting longest to be claimed has waited.",
    "verihook_deliveries_stalled": "1 while a due delivery has waited past VERIHOOK_STALL_AFTER_S.",
    "verihook_stalled_sends": "Sends out longer than their destination's answers usually take (out of the room).",
    "verihook_side_tasks_down": "Side tasks of the dispatcher not running now.",
}


class _QueueGauges(Collector):
    """The view at scrape time: what is pending and for how long the oldest of it has waited, and what this
    process's dispatcher reports (stalls, stalled sends, side tasks down and restarted)."""

    def __init__(self) -> None:
        self.pending = 0
        self.oldest_pending_age_s = 0.0
        self.gauges: Mapping[str, float] = {}
        self.side_task_restarts: Mapping[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("verihook_pending_deliveries", "Deliveries not yet succeeded or failed.",
                                value=self.pending)
        yield GaugeMetricFamily("verihook_oldest_pending_age_seconds",
                                "Age of the oldest pending delivery (0 when none is pending).",
                                value=self.oldest_pending_age_s)
        for name, value in self.gauges.items():
            yield GaugeMetricFamily(name, GAUGE_HELP.get(name, name), value=value)
        restarts = CounterMetricFamily("verihook_side_task_restarts", "Side tasks of the dispatcher started again "
                                       "after they ended.", labels=["task"])
        for task, count in sorted(self.side_task_restarts.items()):
            restarts.add_metric([task], count)
        yield restarts


class _CounterAttribute:
    """An int attribute over a counter, so that `metrics.deferred += n` adds n to the counter."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.counter_name, self.total_name = f"_{name}_counter", f"_{name}_total"

    def __get__(self, instance: Metrics | None, owner: type) -> int:
        assert instance is not None
        total: int = getattr(instance, self.total_name, 0)
        return total

    def __set__(self, instance: Metrics, value: int) -> None:
        added = value - self.__get__(instance, type(instance))
        if added < 0:
            raise ValueError("a counter only goes up")
        counter: Counter = getattr(instance, self.counter_name)
        counter.inc(added)
        setattr(instance, self.total_name, value)


class AttemptTally:
    """Attempts counted in memory and added to the metrics in one go (`Metrics.attempts`): with several processes
    every increment is a locked write into a shared file, several µs each, so the recorder adds a batch's worth
    at once instead of three per attempt."""

    __slots__ = ("latencies_s", "outcomes")

    def __init__(self) -> None:
        self.outcomes: dict[tuple[str, str], int] = {}  # (outcome, profile) -> attempts
        self.latencies_s: list[float] = []  # of the attempts that were answered

    def __bool__(self) -> bool:
        return bool(self.outcomes)

    def add(self, outcome: str, profile: str, latency_s: float | None) -> None:
        """One attempt's outcome (`succeeded`, `failed`, `retrying`) and, if it was answered, how long it took."""
        key = (outcome, profile)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        if latency_s is not None:
            self.latencies_s.append(latency_s)


class Metrics:
    deferred = _CounterAttribute()  # claimed deliveries handed back unsent to a slow destination's later turn
    outcome_writes = _CounterAttribute()  # store calls that wrote a batch of outcomes (attempts and states)

    def __init__(self, shared_dir: str | None = None) -> None:
        """`shared_dir`: the directory shared by every process's figures (`Settings.metrics_dir`), or None."""
        self.shared_dir = shared_dir
        if self.shared_dir is not None and prometheus_values.ValueClass is prometheus_values.MutexValue:
            raise RuntimeError(f"{METRICS_DIR_ENV} was set after prometheus_client was imported: set it in the "
                               "environment before the process starts (or before it imports verihook.metrics)")
        disable_created_metrics()  # no `_created` series beside every counter
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.deliveries = Counter("verihook_deliveries", "Attempts by what became of their delivery.",
                                  ["outcome", "profile"], registry=registry)
        self.attempt_duration = Histogram("verihook_attempt_duration_seconds",
                                          "Time from sending a request to its answer (answered attempts).",
                                          buckets=ATTEMPT_BUCKETS_S, registry=registry)
        self._deferred_counter = Counter("verihook_deliveries_deferred",
                                         "Claimed deliveries handed back unsent to a slow destination's later turn.",
                                         registry=registry)
        self._outcome_writes_counter = Counter("verihook_outcome_writes",
                                               "Store writes of a batch of outcomes (attempts and delivery states).",
                                               registry=registry)
        self.events_published = Counter("verihook_events_published", "Events published (duplicates not counted), "
                                        "by the profile that owns their type.", ["profile"], registry=registry)
        self.retries_scheduled = Counter("verihook_retries_scheduled",
                                         "Failed attempts after which a retry was scheduled.", registry=registry)
        self.endpoints_disabled = Counter("verihook_endpoints_disabled",
                                          "Endpoints disabled by an answer (410) or by failing for too long.",
                                          registry=registry)
        self.oauth_token_requests = Counter("verihook_oauth_token_requests",
                                            "OAuth2 client-credentials token requests, by outcome.", ["outcome"],
                                            registry=registry)
        for outcome in TOKEN_OUTCOMES:
            self.oauth_token_requests.labels(outcome)
        self._retention_deleted = Counter("verihook_retention_deleted",
                                          "Rows deleted by retention, by kind (events, deliveries, attempts).",
                                          ["kind"], registry=registry)
        for kind in RETENTION_KINDS:
            self._retention_deleted.labels(kind)
        self._delivery_counters: dict[tuple[str, str], Any] = {}  # labels() takes a lock; once per pair here
        self._queue = _QueueGauges()
        if self.shared_dir is None:
            registry.register(self._queue)
            for collector in (ProcessCollector, PlatformCollector, GCCollector):
                collector(registry=registry)
            self._scraped = registry
        else:  # every process's figures, from the shared directory, and this one's view of the queue
            self._scraped = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(self._scraped, path=self.shared_dir)
            self._scraped.register(self._queue)

    def attempts(self, tally: AttemptTally) -> None:
        """Add a tally of attempts: their outcomes (`succeeded`, `failed`: no retry left, or `retrying`: a retry
        is scheduled), and the durations of those answered."""
        for (outcome, profile), count in tally.outcomes.items():
            self._count_outcome(outcome, profile, count)
        if tally.latencies_s:
            _observe_all(self.attempt_duration, tally.latencies_s)

    def _count_outcome(self, outcome: str, profile: str, count: int) -> None:
        counter = self._delivery_counters.get((outcome, profile))
        if counter is None:
            counter = self._delivery_counters[(outcome, profile)] = self.deliveries.labels(outcome, profile)
        counter.inc(count)
        if outcome == "retrying":
            self.retries_scheduled.inc(count)

    def event_published(self, profile: str, count: int = 1) -> None:
        self.events_published.labels(profile).inc(count)

    def endpoint_disabled(self) -> None:
        self.endpoints_disabled.inc()

    def retention_deleted(self, events: int, deliveries: int, attempts: int) -> None:
        for kind, count in zip(RETENTION_KINDS, (events, deliveries, attempts), strict=True):
            self._retention_deleted.labels(kind).inc(count)

    def oauth_token_request(self, outcome: str) -> None:
        """`issued` (the token endpoint answered a token) or `failed` (anything else)."""
        self.oauth_token_requests.labels(outcome).inc()

    def render(self, pending: int, oldest_pending_age_s: float, gauges: Mapping[str, float] | None = None,
               side_task_restarts: Mapping[str, int] | None = None) -> str:
        self._queue.pending = pending
        self._queue.oldest_pending_age_s = oldest_pending_age_s
        self._queue.gauges = gauges or {}
        self._queue.side_task_restarts = side_task_restarts or {}
        return generate_latest(self._scraped).decode()


def _observe_all(histogram: Histogram, amounts: list[float]) -> None:
    """What `observe` of each amount adds, written once per bucket and once for the sum. prometheus-client has no
    public call for it; where its internals are not as expected, each amount is observed in turn."""
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    bounds = getattr(histogram, "_upper_bounds", None)
    if not (isinstance(buckets, list) and isinstance(bounds, list) and len(buckets) == len(bounds)
            and total is not None and bounds and bounds[-1] == float("inf")):
        for amount in amounts:
            histogram.observe(amount)
        return
    counts = [0] * len(bounds)
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1  # the first bucket whose bound is >= amount, as observe picks
    for value, count in zip(buckets, counts, strict=True):
        if count:
            value.inc(count)
    total.inc(math.fsum(amounts))
