"""The pure parts of endpoint health: the rate limit's token bucket and the failing streaks a batch writes."""

from __future__ import annotations

from verihook.delivery.lanes import Lane, TokenBucket
from verihook.model import Attempt, AutoDisable, DeliveryResult, DeliveryStatus
from verihook.store.endpoint_health import auto_disable_rows, streak_rows


def test_the_bucket_lets_through_the_rate_and_a_burst_of_one() -> None:
    bucket = TokenBucket(5.0, now=0.0)
    starts, now = [], 0.0
    while len(starts) < 20:
        wait = bucket.wait(now)
        now += wait
        bucket.take(now)
        starts.append(now)
    assert starts[:2] == [0.0, 0.2]
    assert all(sum(1 for t in starts if s <= t < s + 1.0) <= 6 for s in starts)


def test_a_429_halves_the_rate_and_answers_give_it_back() -> None:
    bucket = TokenBucket(4.0, now=0.0)
    bucket.throttle()
    assert bucket.rate == 2.0
    for _ in range(40):
        bucket.recover()
    assert bucket.rate == 4.0
    slow = TokenBucket(0.01, now=0.0)
    slow.throttle()
    assert slow.rate == 0.01  # never below the floor, nor above what was configured


def test_a_retry_after_pauses_the_lane_and_its_queue_is_handed_back_due_after_it() -> None:
    lane = Lane("ep_1", "ten_1", max_window=64, now=0.0)
    lane.throttled(3.0, now=10.0)
    assert lane.window == 4 and lane.send_wait(10.0) == 3.0 and lane.send_wait(13.5) == 0.0
    assert lane.queue_keep(10.0, None) == 0
    assert not lane.idle(11.0) and lane.idle(13.5)


def result(endpoint_id: str | None, at: float, status: DeliveryStatus, auto: AutoDisable | None = None
           ) -> DeliveryResult:
    attempt = Attempt(delivery_id=f"dlv_{at}", number=1, at=at, status_code=500, latency_ms=1.0, error=None)
    return DeliveryResult(delivery_id=f"dlv_{at}", event_id="evt_1", attempt=attempt, status=status,
                          next_attempt_at=None, streak_endpoint_id=endpoint_id, auto_disable=auto)


def test_streaks_count_the_failures_after_the_last_success_in_attempt_order() -> None:
    failed, ok = DeliveryStatus.FAILED, DeliveryStatus.SUCCEEDED
    rows = streak_rows([result("ep_b", 5.0, failed), result("ep_a", 3.0, failed), result("ep_a", 1.0, failed),
                        result("ep_a", 2.0, ok), result("ep_c", 1.0, ok), result(None, 1.0, failed)])
    assert rows == [("ep_a", True, 1, 3.0), ("ep_b", False, 1, 5.0), ("ep_c", True, 0, None)]


def test_only_endpoints_with_auto_disable_and_a_failure_are_judged() -> None:
    rule = AutoDisable(failing_for_s=432000, min_failures=10)
    rows = auto_disable_rows([result("ep_a", 1.0, DeliveryStatus.PENDING, rule),
                              result("ep_b", 1.0, DeliveryStatus.SUCCEEDED, rule),
                              result("ep_c", 1.0, DeliveryStatus.FAILED)])
    assert rows == [("ep_a", 432000, 10, "every attempt failed for 5 days (10 attempts or more)")]
