"""Endpoints: create, read, change, delete, secrets and their rotation, recovery of failed deliveries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from verihook.crypto import generate_token
from verihook.delivery.guard import allowed_targets, check_url
from verihook.delivery.signing import generate_secret
from verihook.errors import Conflict, InvalidInput, NotFound
from verihook.ids import new_id
from verihook.model import Endpoint, Page, SigningSecret, Tenant
from verihook.operational import is_operational
from verihook.policy import SUCCESS_RULES, RetryPolicy
from verihook.profiles import Profile
from verihook.rules import Rules, endpoint_rules
from verihook.service import endpoint_health, input_checks, seed_rules
from verihook.service.access import Caller
from verihook.service.context import Context

ROTATION_GRACE_S = 24 * 3600.0
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$")
RESERVED_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
                              "content-length", "host", "transfer-encoding", "connection", "authorization"})
FIELDS = frozenset({"url", "description", "event_types", "enabled", "profile", "auth", "timeout_s", "retry",
                    "success", "headers", "signing", "tenant_id", "rate_limit_per_s", "auto_disable"})


@dataclass(slots=True)
class EndpointView:
    endpoint: Endpoint
    rules: Rules


class Endpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def create(self, caller: Caller, fields: Mapping[str, Any]) -> EndpointView:
        tenant_id = await self.ctx.tenant_ref(caller, fields.get("tenant_id"))  # a Verihook id or the tenant's uid
        tenant = await self.ctx.visible_tenant(caller, caller.owning_tenant(tenant_id), "tenant_id")
        now = self.ctx.clock()
        endpoint = Endpoint(
            id=new_id("ep"), tenant_id=tenant.id, url="", description="", enabled=True, event_types=None,
            profile=None, auth={"type": "none"}, timeout_s=None, retry=None, success=None, headers={},
            signing_enabled=True, signing_secrets=[SigningSecret(generate_secret())], created_at=now,
            updated_at=now)
        self._apply(endpoint, tenant, fields, creating=True)
        seed_rules.check_endpoint(endpoint, tenant, self.ctx.registry, fields, admin=caller.is_admin)
        await self.ctx.store.insert_endpoint(endpoint)
        return self._view(endpoint, tenant)

    async def replace(self, caller: Caller, tenant: Tenant, endpoint_id: str, fields: Mapping[str, Any]
                      ) -> tuple[EndpointView, bool]:
        """Create the endpoint with this id, or replace it whole (fields not given take their defaults; a deleted
        one comes back): a resource with one instance per tenant, such as vali-Das's webhook setting. Answers the
        endpoint and whether it was created."""
        existing = await self.ctx.store.get_endpoint(endpoint_id)
        if existing is not None and existing.tenant_id != tenant.id:
            raise NotFound(f"endpoint {endpoint_id} not found")
        now = self.ctx.clock()
        endpoint = Endpoint(
            id=endpoint_id, tenant_id=tenant.id, url="", description="", enabled=True, event_types=None,
            profile=None, auth={"type": "none"}, timeout_s=None, retry=None, success=None, headers={},
            signing_enabled=True, signing_secrets=existing.signing_secrets if existing else
            [SigningSecret(generate_secret())], created_at=existing.created_at if existing else now, updated_at=now)
        self._apply(endpoint, tenant, fields, creating=True)
        seed_rules.check_endpoint(endpoint, tenant, self.ctx.registry, fields, admin=caller.is_admin)
        if existing is None:
            await self.ctx.store.insert_endpoint(endpoint)
        else:
            await self.ctx.store.update_endpoint(endpoint)
        return self._view(endpoint, tenant), existing is None

    async def get(self, caller: Caller, endpoint_id: str) -> EndpointView:
        endpoint, tenant = await self.load(caller, endpoint_id)
        return self._view(endpoint, tenant)

    async def list(self, caller: Caller, limit: int, cursor: str | None) -> Page[EndpointView]:
        page = await self.ctx.store.list_endpoints(caller.tenant_ids, limit, cursor)
        tenants: dict[str, Tenant] = {}
        views = []
        for endpoint in page.items:
            if endpoint.tenant_id not in tenants:
                tenants[endpoint.tenant_id] = await self.ctx.visible_tenant(caller, endpoint.tenant_id)
            views.append(self._view(endpoint, tenants[endpoint.tenant_id]))
        return Page(views, page.next_cursor)

    async def update(self, caller: Caller, endpoint_id: str, fields: Mapping[str, Any]) -> EndpointView:
        if "tenant_id" in fields:
            raise InvalidInput("an endpoint cannot move to another tenant", field="tenant_id")
        endpoint, tenant = await self.load(caller, endpoint_id)
        self._apply(endpoint, tenant, fields, creating=False)
        seed_rules.check_endpoint(endpoint, tenant, self.ctx.registry, fields, admin=caller.is_admin)
        if fields.get("enabled") is True:
            endpoint.disabled_reason = None
        endpoint.updated_at = self.ctx.clock()
        await self.ctx.store.update_endpoint(endpoint)
        return self._view(endpoint, tenant)

    async def delete(self, caller: Caller, endpoint_id: str) -> None:
        endpoint, _ = await self.load(caller, endpoint_id)
        endpoint.deleted_at = endpoint.updated_at = self.ctx.clock()
        endpoint.enabled = False
        await self.ctx.store.update_endpoint(endpoint)

    async def rotate_secret(self, caller: Caller, endpoint_id: str, secret: str | None = None,
                            grace_s: float = ROTATION_GRACE_S) -> EndpointView:
        endpoint, tenant = await self.load(caller, endpoint_id)
        now = self.ctx.clock()
        if secret is not None:
            input_checks.check_signing_secret(secret)
        kept = [s for s in endpoint.signing_secrets if s.expires_at is not None and s.expires_at > now]
        kept += [SigningSecret(s.secret, now + grace_s) for s in endpoint.signing_secrets if s.expires_at is None]
        endpoint.signing_secrets = [SigningSecret(secret or generate_secret()), *kept]
        endpoint.updated_at = now
        await self.ctx.store.update_endpoint(endpoint)
        return self._view(endpoint, tenant)

    async def recover(self, caller: Caller, endpoint_id: str, since: float, until: float | None,
                      include_skipped: bool = False) -> int:
        """Requeue the endpoint's failed deliveries created in [since, until) (and, with `include_skipped`, those
        skipped while it was disabled); refused while the endpoint is disabled (they could only fail again)."""
        endpoint, _ = await self.load(caller, endpoint_id)
        now = self.ctx.clock()
        if until is not None and until <= since:
            raise InvalidInput("until must be after since", field="until")
        if not endpoint.enabled:
            raise Conflict(f"endpoint {endpoint.id} is disabled: enable it (PATCH enabled: true) before recovering "
                           "its deliveries", field="enabled")
        count = await self.ctx.store.recover_endpoint(endpoint.id, since, until or now + 1, now, include_skipped)
        if count:
            self.ctx.wake_dispatcher()
        return count

    async def load(self, caller: Caller, endpoint_id: str) -> tuple[Endpoint, Tenant]:
        endpoint = await self.ctx.store.get_endpoint(endpoint_id)
        if endpoint is None or endpoint.deleted_at is not None or not caller.can_see(endpoint.tenant_id):
            raise NotFound(f"endpoint {endpoint_id} not found")
        return endpoint, await self.ctx.visible_tenant(caller, endpoint.tenant_id)

    def _view(self, endpoint: Endpoint, tenant: Tenant) -> EndpointView:
        return EndpointView(endpoint, endpoint_rules(endpoint, tenant.profile, self.ctx.registry))

    def _apply(self, endpoint: Endpoint, tenant: Tenant, fields: Mapping[str, Any], *, creating: bool) -> None:
        """Check every given field and write it into `endpoint`; raises InvalidInput naming the field."""
        unknown = set(fields) - FIELDS
        if unknown:
            raise InvalidInput(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
        registry = self.ctx.registry
        profile_before = endpoint.profile
        if "profile" in fields:
            endpoint.profile = registry.check_name(fields["profile"]) if fields["profile"] else None
        profile = registry.get(endpoint.profile or tenant.profile)
        input_checks.check_endpoint_fields(fields, require_https=tenant.require_https or profile.defaults.require_https,
                                           allow_private_targets=self.ctx.settings.allow_private_targets,
                                           allowed=allowed_targets(self.ctx.settings.allowed_targets))
        if creating and "url" not in fields:
            raise InvalidInput("url is required", field="url")
        if "url" in fields or "profile" in fields:
            url = fields.get("url", endpoint.url)
            if profile.defaults.require_https and not url.lower().startswith("https://"):
                raise InvalidInput(f"url must use https: profile {profile.name} sends webhooks only over HTTPS",
                                   field="url")
            check_url(url, allow_private_targets=self.ctx.settings.allow_private_targets,
                      allowed=allowed_targets(self.ctx.settings.allowed_targets),
                      require_https=tenant.require_https or profile.defaults.require_https)
            endpoint.url = url
        if "description" in fields:
            endpoint.description = fields["description"] or ""
        if "enabled" in fields:
            endpoint.enabled = bool(fields["enabled"])
        if "event_types" in fields:
            endpoint.event_types = self._event_types(fields["event_types"], profile)
        if "timeout_s" in fields:
            endpoint.timeout_s = fields["timeout_s"]
        if "retry" in fields:
            endpoint.retry = None if fields["retry"] is None else self._retry(fields["retry"])
        if "success" in fields:
            if fields["success"] is not None and fields["success"] not in SUCCESS_RULES:
                raise InvalidInput(f"success must be one of {', '.join(SUCCESS_RULES)}", field="success")
            endpoint.success = fields["success"]
        if "headers" in fields:
            endpoint.headers = _check_headers(fields["headers"] or {})
        if "signing" in fields:
            endpoint.signing_enabled = bool((fields["signing"] or {}).get("enabled", True))
        if "rate_limit_per_s" in fields:
            endpoint.rate_limit_per_s = endpoint_health.rate_limit(fields["rate_limit_per_s"])
        if "auto_disable" in fields:
            endpoint.auto_disable = endpoint_health.auto_disable(fields["auto_disable"])
        elif creating or endpoint.profile != profile_before:  # left out: the profile's (none for a seed)
            endpoint.auto_disable = profile.defaults.auto_disable
        if "auth" in fields or creating:
            endpoint.auth = _complete_auth(fields.get("auth"), profile.defaults.auth_type, endpoint.auth)
        required = profile.defaults.required_auth
        if required is not None and endpoint.auth.get("type") != required:
            raise InvalidInput(f"auth: an endpoint of profile {profile.name} must use auth of type {required!r}",
                               field="auth")

    def _retry(self, retry: Any) -> dict[str, Any]:
        """A retry policy given in full, or by name: {"preset": "incode-backoff"}."""
        if isinstance(retry, Mapping) and "preset" in retry:
            if len(retry) > 1:
                raise InvalidInput("retry: give either a preset or a strategy, not both", field="retry")
            return self.ctx.registry.retry_preset(retry["preset"]).to_dict()
        return RetryPolicy.from_dict(retry).to_dict()

    def _event_types(self, names: list[str] | None, profile: Profile) -> list[str] | None:
        if names is None:
            return None
        if not names:
            raise InvalidInput("event_types must name at least one type, or be null for every type",
                               field="event_types")
        for index, name in enumerate(names):
            field = f"event_types[{index}]"
            self.ctx.registry.check_event_type_name(name, field=field)
            if profile.event_types and name not in profile.event_types and not is_operational(name):
                raise InvalidInput(f"event type {name!r} is not one of profile {profile.name}'s: "
                                   f"{', '.join(profile.event_types)}", field=field)
        return list(dict.fromkeys(names))


def _check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise InvalidInput(f"header name {name!r} is not a valid HTTP header name", field=f"headers.{name}")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidInput(f"header {name!r} is set by Verihook and cannot be overridden",
                               field=f"headers.{name}")
        if not isinstance(value, str) or any(ch in value for ch in "\r\n\0"):
            raise InvalidInput(f"header {name!r} must be a single-line string", field=f"headers.{name}")
    return dict(headers)


def _complete_auth(auth: Mapping[str, Any] | None, default_type: str, current: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """The auth to store: a generated Basic token where the type is basic and none was given."""
    if auth is None:
        if current.get("type", "none") != "none":
            return dict(current)
        auth = {"type": default_type}
    completed = {k: v for k, v in auth.items() if v is not None}
    if completed.get("type") == "basic" and "token" not in completed and "username" not in completed:
        completed["token"] = generate_token()
    return completed
