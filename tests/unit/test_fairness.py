"""Max-min fair shares of the room (delivery/fairness.py): by tenant first, then by a tenant's lanes."""

from __future__ import annotations

import pytest

from tests.unit.test_lanes import work
from verihook.delivery.fairness import fair_shares, lane_shares
from verihook.delivery.lanes import Lane


@pytest.mark.parametrize(("demands", "budget", "shares"), [
    ({"a": 10, "b": 10}, 100, {"a": 10, "b": 10}),  # every demand fits
    ({"a": 300, "b": 300}, 100, {"a": 50, "b": 50}),  # even split
    ({"a": 10, "b": 300, "c": 300}, 100, {"a": 10, "b": 45, "c": 45}),  # what a small one leaves goes to the rest
    ({"a": 1, "b": 2, "c": 1000}, 10, {"a": 1, "b": 2, "c": 7}),
    ({"a": 5, "b": 5, "c": 5}, 2, {"a": 1, "b": 1, "c": 1}),  # at least one each: everyone makes progress
    ({}, 10, {}),
])
def test_fair_shares_are_max_min(demands: dict[str, int], budget: int, shares: dict[str, int]) -> None:
    assert fair_shares(demands, budget) == shares


def lane(key: str, tenant: str, held: int) -> Lane:
    made = Lane(key, tenant, 64, 100.0)
    made.queue.extend(work(n) for n in range(held))
    return made


def test_nothing_is_limited_while_what_the_lanes_hold_fits() -> None:
    assert lane_shares([lane("a1", "a", 40), lane("b1", "b", 40)], 100) == {}


def test_a_tenant_with_many_lanes_gets_a_tenants_share_not_a_share_per_lane() -> None:
    """Tenant a holds 10 lanes of 100, tenant b one lane of 100, the budget is 100: b keeps half the room."""
    lanes = [lane(f"a{n}", "a", 100) for n in range(10)] + [lane("b1", "b", 100)]
    shares = lane_shares(lanes, 100)
    assert shares["b1"] == 50
    assert sum(shares[f"a{n}"] for n in range(10)) == 50
    assert all(shares[f"a{n}"] == 5 for n in range(10))


def test_within_a_tenant_a_small_lane_is_not_cut_and_leaves_its_rest_to_the_others() -> None:
    lanes = [lane("a-small", "a", 3), lane("a-big", "a", 200), lane("b1", "b", 200)]
    shares = lane_shares(lanes, 100)
    assert "a-small" not in shares  # under its share: not limited
    assert (shares["a-big"], shares["b1"]) == (47, 50)


def test_lanes_holding_nothing_take_no_share() -> None:
    lanes = [lane("a1", "a", 0), lane("b1", "b", 150), lane("c1", "c", 150)]
    assert lane_shares(lanes, 100) == {"b1": 50, "c1": 50}

