"""Where and how a delivery is sent, resolved from the endpoint (or subject) and kept in memory.

A claimed delivery carries its endpoint's `updated_at`; a cached destination with another version is loaded again,
so a change to an endpoint takes effect on its next attempt without a round trip per delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verihook.model import AutoDisable, DueDelivery, Endpoint, SigningSecret
from verihook.profiles import ProfileRegistry
from verihook.redaction import headers_shown
from verihook.rules import Rules, endpoint_rules, subject_rules
from verihook.store.base import Store


@dataclass(slots=True)
class Destination:
    endpoint_id: str | None
    url: str | None  # None: the delivery's own URL (a subject's webhook_url)
    rules: Rules
    headers: list[tuple[str, str]]
    auth: dict[str, Any]
    signing_secrets: list[SigningSecret]
    signing: bool
    refusal: str | None = None  # set when the endpoint no longer takes deliveries
    rate_limit_per_s: float | None = None
    auto_disable: AutoDisable | None = None
    _shown_headers: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    def live_secrets(self, now: float) -> list[str]:
        return [s.secret for s in self.signing_secrets if s.expires_at is None or s.expires_at > now]

    def shown_headers(self) -> dict[str, str]:
        """The headers every request to this destination starts with (the content type, then its own), as an
        attempt records them (names in lower case, no credentials); made once. Copy it before adding to it."""
        if self._shown_headers is None:
            self._shown_headers = headers_shown(self.headers, {"content-type": "application/json"})
        return self._shown_headers


class Destinations:
    def __init__(self, store: Store, registry: ProfileRegistry) -> None:
        self._store = store
        self._registry = registry
        self._endpoints: dict[str, tuple[float | None, Destination]] = {}
        self._tenant_profiles: dict[str, str] = {}
        self._tenant_secrets: dict[str, str] = {}

    def cached(self, due: DueDelivery) -> Destination | None:
        """The destination from memory, without a store round trip; None when it must be loaded (`for_delivery`)."""
        if due.endpoint_id is None:
            profile = self._tenant_profiles.get(due.tenant_id)
            secret = self._tenant_secrets.get(due.tenant_id)
            if profile is None or secret is None:
                return None
            return self._subject_rules_destination(due, profile, secret)
        cached = self._endpoints.get(due.endpoint_id)
        if cached is not None and cached[0] == due.endpoint_version:
            return cached[1]
        return None

    async def for_delivery(self, due: DueDelivery) -> Destination:
        if due.endpoint_id is None:
            return await self._subject_destination(due)
        cached = self._endpoints.get(due.endpoint_id)
        if cached is not None and cached[0] == due.endpoint_version:
            return cached[1]
        endpoint = await self._store.get_endpoint(due.endpoint_id)
        destination = await self._endpoint_destination(endpoint, due)
        self._endpoints[due.endpoint_id] = (endpoint.updated_at if endpoint else None, destination)
        return destination

    async def for_endpoint(self, endpoint: Endpoint) -> Destination:
        return await self._endpoint_destination(endpoint, None)

    def fallback(self, due: DueDelivery) -> Destination:
        """A stand-in for a destination that cannot be built (its stored settings do not load): the standard rules, so
        the failed attempt is recorded, retried on the standard schedule and, if it never loads, fails."""
        rules = subject_rules(None, "standard", self._registry)
        return Destination(due.endpoint_id, None, rules, [], {"type": "none"}, [], False)

    def forget(self, endpoint_id: str) -> None:
        self._endpoints.pop(endpoint_id, None)

    async def _tenant_profile(self, tenant_id: str) -> str:
        if tenant_id not in self._tenant_profiles:
            tenant = await self._store.get_tenant(tenant_id)
            self._tenant_profiles[tenant_id] = tenant.profile if tenant else "standard"
        return self._tenant_profiles[tenant_id]

    async def _endpoint_destination(self, endpoint: Endpoint | None, due: DueDelivery | None) -> Destination:
        if endpoint is None:
            rules = subject_rules(None, "standard", self._registry)
            return Destination(None, None, rules, [], {"type": "none"}, [], False, refusal="endpoint deleted")
        rules = endpoint_rules(endpoint, await self._tenant_profile(endpoint.tenant_id), self._registry)
        refusal = None
        if endpoint.deleted_at is not None:
            refusal = "endpoint deleted"
        elif not endpoint.enabled:
            refusal = (
                f"endpoint disabled{': ' + endpoint.disabled_reason if endpoint.disabled_reason else ''}"
            )
        return Destination(
            endpoint.id,
            endpoint.url,
            rules,
            list(endpoint.headers.items()),
            endpoint.auth,
            endpoint.signing_secrets,
            endpoint.signing_enabled,
            refusal,
            endpoint.rate_limit_per_s,
            endpoint.auto_disable,
        )

    async def _subject_destination(self, due: DueDelivery) -> Destination:
        tenant_profile = await self._tenant_profile(due.tenant_id)
        if due.tenant_id not in self._tenant_secrets:
            self._tenant_secrets[due.tenant_id] = await self._store.tenant_signing_secret(due.tenant_id)
        return self._subject_rules_destination(due, tenant_profile, self._tenant_secrets[due.tenant_id])

    def _subject_rules_destination(self, due: DueDelivery, tenant_profile: str, secret: str) -> Destination:
        rules = subject_rules(due.subject_profile, tenant_profile, self._registry)
        return Destination(None, None, rules, [], {"type": "none"}, [SigningSecret(secret)], True)
