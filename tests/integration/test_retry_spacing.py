"""Retry delays end to end: the recorded attempts of a delivery to a receiver that always fails are spaced as
the policy says, jitter included, and jitter never takes a delay past the policy's max_delay_s."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from tests.support.api import Api
from tests.support.receivers import Answer, Receiver

# delays: 0.6 s x uniform(0.5, 1.5) after attempt 1; 0.6 x 3 = 1.8 s capped to 1 s, then jittered only below the
# cap (0.5 to 1 s; jitter applied after the cap used to reach 1.5 s) after attempt 2; 3 attempts in all
CAPPED_JITTER = {"strategy": "exponential", "initial_s": 0.6, "factor": 3, "max_attempts": 3, "max_delay_s": 1,
                 "jitter": 0.5}
BOUNDS_S = [(0.6 * 0.5, 0.6 * 1.5), (1.0 * 0.5, 1.0)]
SLACK_S = 0.25  # the attempt's own latency, recording and waking up (a few ms): a gap is the delay plus these
MS = 0.002  # attempt times are shown to the millisecond


def _gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in pairwise(times)]


async def test_attempts_are_spaced_within_the_jittered_bounds_and_never_past_the_cap(
        api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(500))
    await api.endpoint(receiver.url, retry=CAPPED_JITTER)
    event = await api.publish()

    done = await api.wait_event(event["id"], status="failed", timeout=10)

    [delivery] = done["deliveries"]
    attempts = delivery["attempts"]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [500, 500, 500]
    assert delivery["attempt_count"] == 3 and len(receiver.requests) == 3
    gaps = _gaps([datetime.fromisoformat(a["at"]).timestamp() for a in attempts])
    arrivals = _gaps([request.at for request in receiver.requests])
    for gap, arrival, (low, high) in zip(gaps, arrivals, BOUNDS_S, strict=True):
        assert low - MS <= gap <= high + SLACK_S, (gaps, BOUNDS_S)
        assert low - 0.05 <= arrival <= high + SLACK_S, (arrivals, BOUNDS_S)
