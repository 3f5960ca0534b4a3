"""What a batch of results writes to its endpoints' failing streaks, and which endpoints it may disable
(auto_disable): pure, the same for both stores, which write the rows each in its own SQL."""

from __future__ import annotations

from collections.abc import Sequence

from verihook.model import AutoDisable, DeliveryResult, DeliveryStatus

StreakRow = tuple[str, bool, int, float | None]  # endpoint id, reset, failures since, first of them at
AutoDisableRow = tuple[str, int, int, str]  # endpoint id, failing_for_s, min_failures, reason


def streak_rows(results: Sequence[DeliveryResult]) -> list[StreakRow]:
    """Per endpoint (in id order, the lock order): whether a success in this batch ended its streak, how many
    attempts failed after the last success, and when the first of those was."""
    streaks: dict[str, StreakRow] = {}
    for result in sorted(results, key=lambda r: r.attempt.at):
        endpoint_id = result.streak_endpoint_id
        if endpoint_id is None:
            continue
        _, reset, failures, first = streaks.get(endpoint_id, (endpoint_id, False, 0, None))
        if result.status is DeliveryStatus.SUCCEEDED:
            streaks[endpoint_id] = (endpoint_id, True, 0, None)
        else:
            streaks[endpoint_id] = (endpoint_id, reset, failures + 1, result.attempt.at if first is None else first)
    return sorted(streaks.values())


def auto_disable_rows(results: Sequence[DeliveryResult]) -> list[AutoDisableRow]:
    """The endpoints with auto_disable whose streak this batch extended, to be disabled if it is now long enough."""
    judged = {r.streak_endpoint_id: r.auto_disable for r in results
              if r.streak_endpoint_id and r.auto_disable and r.status is not DeliveryStatus.SUCCEEDED}
    return sorted((endpoint_id, rule.failing_for_s, rule.min_failures, reason(rule))
                  for endpoint_id, rule in judged.items() if endpoint_id and rule)


def reason(rule: AutoDisable) -> str:
    return f"every attempt failed for {_span(rule.failing_for_s)} ({rule.min_failures} attempts or more)"


def _span(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} s"
