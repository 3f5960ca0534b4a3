"""The test notification of an endpoint: a sample event of what it receives, in its profile's exact wire format."""

from __future__ import annotations

from typing import Any

from verihook.model import Endpoint, Tenant
from verihook.profiles import Profile, ProfileRegistry

TEST_EVENT_TYPE = "verihook.test"


def sample_event(registry: ProfileRegistry, endpoint: Endpoint, profile: Profile, tenant: Tenant
                 ) -> tuple[str, dict[str, Any]]:
    """The first type the endpoint names that has a sample, else the first its profile sends to an endpoint
    taking every type; a `verihook.test` event when there is none (the `standard` profile)."""
    named = endpoint.event_types or []
    every = [name for name, known in profile.event_types.items() if not known.opt_in]
    for name in (*named, *every):
        owner = registry.owner_of(name)
        data = owner.sample(name, client_id(tenant)) if owner is not None else None
        if owner is not None and data is not None:
            return name, owner.prepare(name, data)
    return TEST_EVENT_TYPE, {"endpoint_id": endpoint.id, "message": "This is a test notification from Verihook."}


def client_id(tenant: Tenant) -> str:
    """The tenant's id as its platform knows it (Credas's ClientId): its uid, else its Verihook id."""
    return tenant.uid or tenant.id
