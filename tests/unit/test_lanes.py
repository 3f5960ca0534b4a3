"""A lane's arithmetic (delivery/lanes.py), without a dispatcher: the window, stalled sends, silence, what it keeps
queued and what it hands back, and when."""

from __future__ import annotations

import pytest

from verihook.delivery.destinations import Destination
from verihook.delivery.lanes import (
    DEFER_MAX_S,
    INITIAL_WINDOW,
    STALL_MIN_S,
    UNKNOWN_PACE_WAIT_S,
    Lane,
    Work,
)
from verihook.model import DueDelivery
from verihook.profiles import default_registry
from verihook.rules import subject_rules

DESTINATION = Destination("ep_1", "https://receiver.example/hook", subject_rules(None, "standard", default_registry()),
                          [], {"type": "none"}, [], False)


def work(n: int) -> Work:
    due = DueDelivery(id=f"dlv_{n}", event_id=f"evt_{n}", tenant_id="ten_1", endpoint_id="ep_1",
                      url="https://receiver.example/hook", attempt_count=0, cycle_attempts=0, created_at=0.0,
                      event_type="kyc.checked", event_data_json=b"{}", event_created_at=0.0, subject_id=None,
                      sequence=None, subject_profile=None, endpoint_version=None)
    return Work(due, DESTINATION, due.url)


def lane_with(queued: int, max_window: int = 64, now: float = 100.0) -> Lane:
    lane = Lane("ep_1", "ten_1", max_window, now)
    lane.queue.extend(work(n) for n in range(queued))
    return lane


def answer(lane: Lane, token: int, started: float, latency_s: float, *, timed_out: bool = False) -> bool:
    lane.start_send(token, started)
    return lane.finish_send(token, latency_s, timed_out, started + latency_s)


def test_the_window_starts_small_grows_by_one_per_answer_and_halves_on_a_timeout() -> None:
    lane = lane_with(0, max_window=10)
    assert lane.window == INITIAL_WINDOW
    for token in range(5):
        answer(lane, token, 100.0 + token, 0.05)
    assert lane.window == 10  # capped at the endpoint's concurrency
    answer(lane, 10, 110.0, 5.0, timed_out=True)
    assert lane.window == 5
    for token in range(11, 16):
        answer(lane, token, 120.0, 5.0, timed_out=True)
    assert lane.window == 1  # never below one send
    assert lane_with(0, max_window=3).window == 3


def test_workers_start_only_within_the_window_and_the_share() -> None:
    lane = lane_with(20)
    lane.workers = INITIAL_WINDOW - 1
    assert lane.may_start_worker()
    lane.workers = INITIAL_WINDOW
    assert not lane.may_start_worker() and not lane.worker_should_stop()
    lane.send_cap = 2  # over its fair share of a contended room
    assert lane.worker_should_stop()
    assert not lane_with(0).may_start_worker()  # nothing queued


def test_a_send_out_longer_than_the_lanes_answers_usually_take_stalls_and_leaves_the_room() -> None:
    lane = lane_with(0)
    for token in range(3):
        answer(lane, token, 100.0, 0.5)  # smoothed latency 0.5 s: stalled after 4 x 0.5 = 2 s
    assert lane.stall_after() == pytest.approx(2.0)
    lane.start_send(10, 200.0)
    lane.start_send(11, 201.5)
    assert lane.newly_stalled(201.9) == []
    assert lane.newly_stalled(202.1) == [10]
    lane.stalled.add(10)
    assert (lane.live_sends, lane.held) == (1, 1)  # a stalled send holds a socket, not room
    assert lane.newly_stalled(210.0) == [11]  # 10 is counted once
    assert lane.finish_send(10, 30.0, True, 230.0) is True
    assert lane.finish_send(11, 0.4, False, 230.0) is False


def test_stalling_takes_at_least_a_second_even_for_a_fast_lane() -> None:
    lane = lane_with(0)
    answer(lane, 0, 100.0, 0.01)
    assert lane.stall_after() == STALL_MIN_S


def test_a_silent_lane_keeps_no_queue_and_hands_everything_back() -> None:
    lane = lane_with(30)
    answer(lane, 0, 100.0, 0.1)
    lane.start_send(1, 101.0)  # accepted, never answered
    assert not lane.silent(101.3)
    assert lane.silent(101.0 + lane.stall_after() + 0.1)
    now = 103.0
    assert lane.queue_keep(now, None) == 0
    handed_back = lane.shed(now, lane.queue_keep(now, None))
    assert len(handed_back) == 30 and not lane.queue
    assert [delivery_id for delivery_id, _ in handed_back] == [f"dlv_{n}" for n in range(30)]  # oldest first
    due_times = [at for _, at in handed_back]
    assert due_times == sorted(due_times) and now < due_times[0] and due_times[-1] <= now + DEFER_MAX_S


def test_a_pause_of_the_process_is_neither_silence_nor_latency() -> None:
    """Nothing is heard while the process does not run: a fast receiver must not look silent or slow after it."""
    lane = lane_with(300, max_window=10)
    for token in range(2):
        answer(lane, token, 100.0, 0.01)  # 0.01 s a send
    lane.start_send(5, 100.1)
    lane.unheard(1.5, now=101.7)  # the process ran again at 101.7, after a pause of 1.5 s
    assert not lane.silent(101.7)
    assert lane.queue_keep(101.7, None) > 0 and lane.newly_stalled(101.7) == []
    lane.finish_send(5, 1.61, False, 101.71)  # the transport's clock ran through the pause
    assert lane.latency_s == pytest.approx(0.01, abs=0.02)
    assert lane.capacity(101.71) > 400


def test_before_its_first_answer_a_lane_keeps_one_window_and_what_it_hands_back_waits_a_little() -> None:
    lane = lane_with(20)
    now = 100.5
    assert lane.queue_keep(now, None) == INITIAL_WINDOW
    handed_back = lane.shed(now, lane.queue_keep(now, None))
    assert len(handed_back) == 20 - INITIAL_WINDOW and len(lane.queue) == INITIAL_WINDOW
    assert [d.due.id for d in lane.queue] == [f"dlv_{n}" for n in range(INITIAL_WINDOW)]  # the oldest stay
    assert all(at == pytest.approx(now + UNKNOWN_PACE_WAIT_S) for _, at in handed_back)  # not due at once


def test_claims_handed_back_before_a_first_answer_all_wait_a_little_not_ever_longer() -> None:
    """A new lane whose first answer is slow to come (a process busy with faults' answers) is handed claim after
    claim of its backlog. Its pace is unknown: each claim's excess waits UNKNOWN_PACE_WAIT_S, not a pace guessed
    from the wait so far, pushed past the previous claim's: that spread a healthy backlog over 30 s at ~50/s."""
    lane = lane_with(0)
    for token in range(INITIAL_WINDOW):
        lane.start_send(token, 100.0)
    due_times = []
    for claim in range(10):
        now = 100.1 + claim * 0.01
        lane.queue.extend(work(n) for n in range(claim * 300, claim * 300 + 300))
        due_times += [at for _, at in lane.shed(now, lane.queue_keep(now, None))]
    assert len(due_times) == 10 * 300 - INITIAL_WINDOW
    assert max(due_times) <= 100.1 + 9 * 0.01 + UNKNOWN_PACE_WAIT_S + 1e-9


def test_an_answering_lane_keeps_what_it_sends_in_about_a_second_within_its_share() -> None:
    lane = lane_with(500, max_window=10)
    for token in range(2):
        answer(lane, token, 100.0, 0.1)  # window 10, 0.1 s a send: 100 a second
    now = 100.5
    assert lane.capacity(now) == pytest.approx(100.0)
    assert lane.queue_keep(now, None) == 100
    assert lane.is_slow(now)  # 500 queued take five seconds at its pace
    lane.start_send(5, now)
    assert lane.queue_keep(now, 40) == 39  # a share of 40, one of it sending
    assert lane.queue_keep(now, 0) == 0
    assert lane.shed(now, 600) == []  # nothing beyond what it may keep


def test_deliveries_handed_back_come_due_at_the_lanes_pace_and_never_on_top_of_earlier_ones() -> None:
    lane = lane_with(300, max_window=10)
    answer(lane, 0, 100.0, 0.1)
    now = 100.5
    first = lane.shed(now, 100)
    spacing = first[1][1] - first[0][1]
    # a little faster than its pace, at its whole window: in slow start its window grows by one per answer
    assert spacing == pytest.approx(1 / (lane.capacity(now, lane.max_window) * 1.5))
    lane.queue.extend(work(n) for n in range(1000, 1200))
    second = lane.shed(now, 100)
    assert second[0][1] > first[-1][1]  # after those handed back before


def test_after_a_timeout_what_a_lane_hands_back_comes_due_at_its_window_not_its_whole_one() -> None:
    lane = lane_with(300, max_window=64)
    answer(lane, 0, 100.0, 0.1)
    answer(lane, 1, 100.1, 0.1)  # window 10, 100 a second
    answer(lane, 2, 100.2, 5.0, timed_out=True)  # window 5: slow start is over
    now = 105.3
    handed_back = lane.shed(now, 100)
    assert handed_back[1][1] - handed_back[0][1] == pytest.approx(1 / (lane.capacity(now) * 1.5))
    assert lane.capacity(now) < lane.capacity(now, lane.max_window)


def test_an_idle_lane_is_one_with_nothing_queued_sending_or_working() -> None:
    lane = lane_with(0)
    assert lane.idle(0.0)
    lane.start_send(1, 100.0)
    assert not lane.idle(0.0)
    lane.finish_send(1, 0.1, False, 100.1)
    assert lane.idle(0.0)
