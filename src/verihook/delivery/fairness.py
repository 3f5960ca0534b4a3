"""Fair shares of the dispatcher's room: max-min fair across tenants, then across a tenant's lanes. No I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

from verihook.delivery.lanes import Lane

K = TypeVar("K", bound=Hashable)


def fair_shares(demands: Mapping[K, int], budget: int) -> dict[K, int]:
    """Max-min fair shares of `budget`: a demand that fits its even part is met, what it leaves is split among the
    others. Every share is at least 1, so every claimant makes progress even when there are more than `budget`."""
    shares: dict[K, int] = {}
    remaining = budget
    ordered = sorted(demands.items(), key=lambda item: item[1])
    for index, (key, demand) in enumerate(ordered):
        even = max(1, remaining // (len(ordered) - index))
        shares[key] = min(demand, even)
        remaining -= shares[key]
    return shares


def lane_shares(lanes: Iterable[Lane], budget: int) -> dict[str, int]:
    """Shares of `budget` for the lanes that hold more than the fair part, by lane key; lanes not named are not
    limited. Empty when what the lanes hold fits the budget."""
    by_tenant: dict[str, dict[str, int]] = defaultdict(dict)
    for lane in lanes:
        if lane.held:
            by_tenant[lane.tenant_id][lane.key] = lane.held
    if sum(sum(held.values()) for held in by_tenant.values()) <= budget:
        return {}
    tenant_shares = fair_shares({tenant: sum(held.values()) for tenant, held in by_tenant.items()}, budget)
    limited: dict[str, int] = {}
    for tenant, held in by_tenant.items():
        for key, share in fair_shares(held, tenant_shares[tenant]).items():
            if held[key] > share:
                limited[key] = share
    return limited
