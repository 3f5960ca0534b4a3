"""Process-local counters and a histogram, rendered in the Prometheus text format."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

ATTEMPT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        lines, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {running}')
        lines += [f'{name}_bucket{{le="+Inf"}} {self.count}', f"{name}_sum {self.total}", f"{name}_count {self.count}"]
        return lines


@dataclass(slots=True)
class Metrics:
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (outcome, profile) -> count
    attempt_duration: Histogram = field(default_factory=lambda: Histogram(ATTEMPT_BUCKETS_S))
    deferred: int = 0  # claimed deliveries handed back unsent to a slow destination's later turn
    outcome_writes: int = 0  # store calls that wrote a batch of outcomes (attempts and delivery states)

    def delivery(self, outcome: str, profile: str) -> None:
        self.deliveries[(outcome, profile)] += 1

    def render(self, pending: int, oldest_pending_age_s: float, gauges: Mapping[str, float] | None = None,
               side_task_restarts: Mapping[str, int] | None = None) -> str:
        lines = ["# TYPE verihook_deliveries_total counter"]
        lines += [f'verihook_deliveries_total{{outcome="{outcome}",profile="{profile}"}} {count}'
                  for (outcome, profile), count in sorted(self.deliveries.items())]
        lines += ["# TYPE verihook_attempt_duration_seconds histogram",
                  *self.attempt_duration.lines("verihook_attempt_duration_seconds"),
                  "# TYPE verihook_deliveries_deferred_total counter",
                  f"verihook_deliveries_deferred_total {self.deferred}",
                  "# TYPE verihook_outcome_writes_total counter",
                  f"verihook_outcome_writes_total {self.outcome_writes}",
                  "# TYPE verihook_pending_deliveries gauge", f"verihook_pending_deliveries {pending}",
                  "# TYPE verihook_oldest_pending_age_seconds gauge",
                  f"verihook_oldest_pending_age_seconds {oldest_pending_age_s}"]
        for name, value in (gauges or {}).items():
            lines += [f"# TYPE {name} gauge", f"{name} {value}"]
        lines.append("# TYPE verihook_side_task_restarts_total counter")
        lines += [f'verihook_side_task_restarts_total{{task="{task}"}} {count}'
                  for task, count in sorted((side_task_restarts or {}).items())]
        return "\n".join(lines) + "\n"
