"""Attempts tallied in memory and added at once read on /metrics as if each had been counted on its own."""

from __future__ import annotations

from verihook.metrics import ATTEMPT_BUCKETS_S, AttemptTally, Metrics

ATTEMPTS = [("succeeded", "standard", 0.004), ("succeeded", "standard", 0.005), ("retrying", "standard", 0.0051),
            ("failed", "incode", None), ("succeeded", "incode", 31.0), ("retrying", "standard", None),
            *(("succeeded", "standard", bound) for bound in ATTEMPT_BUCKETS_S)]


def ours(page: str) -> list[str]:
    return sorted(line for line in page.splitlines() if line.startswith("verihook_"))


def test_a_tally_adds_what_counting_each_attempt_adds() -> None:
    one_by_one, tallied = Metrics(), Metrics()
    tally = AttemptTally()
    for outcome, profile, latency_s in ATTEMPTS:
        one_by_one.deliveries.labels(outcome, profile).inc()
        if outcome == "retrying":
            one_by_one.retries_scheduled.inc()
        if latency_s is not None:
            one_by_one.attempt_duration.observe(latency_s)
        tally.add(outcome, profile, latency_s)
    tallied.attempts(tally)
    assert ours(tallied.render(0, 0.0)) == ours(one_by_one.render(0, 0.0))
    assert "verihook_attempt_duration_seconds_count 16.0" in tallied.render(0, 0.0)
