"""The delivery rules in force for a destination: its own settings, else its profile's defaults. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from verihook.model import Endpoint
from verihook.policy import RetryPolicy
from verihook.profiles import Profile, ProfileRegistry

LEASE_MARGIN_S = 15.0  # a claim outlives the request's timeout by this much before another worker may retry


@dataclass(frozen=True, slots=True)
class Rules:
    profile: Profile
    timeout_s: float
    retry: RetryPolicy
    success: str

    @property
    def lease_s(self) -> float:
        return self.timeout_s + LEASE_MARGIN_S


def endpoint_rules(endpoint: Endpoint, tenant_profile: str, registry: ProfileRegistry) -> Rules:
    profile = registry.get(endpoint.profile or tenant_profile)
    defaults = profile.defaults
    return Rules(
        profile=profile,
        timeout_s=endpoint.timeout_s if endpoint.timeout_s is not None else defaults.timeout_s,
        retry=RetryPolicy.from_dict(endpoint.retry) if endpoint.retry is not None else defaults.retry,
        success=endpoint.success or defaults.success,
    )


def subject_rules(subject_profile: str | None, tenant_profile: str, registry: ProfileRegistry) -> Rules:
    profile = registry.get(subject_profile or tenant_profile)
    defaults = profile.defaults
    return Rules(profile=profile, timeout_s=defaults.timeout_s, retry=defaults.retry, success=defaults.success)
