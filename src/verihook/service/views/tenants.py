"""Tenants as the API shows them: with their secrets only when just made; their portal links."""

from __future__ import annotations

from pydantic import Field

from verihook.model import ApiKey, Tenant
from verihook.service.portal import PortalLink
from verihook.service.tenants import NewTenant
from verihook.service.views.common import PageOut, Timestamp, View
from verihook.times import rfc3339, rfc3339_or_none


class TenantOut(View):
    id: str
    uid: str | None
    name: str
    parent_id: str | None
    profile: str
    require_https: bool
    retention_days: int | None = Field(description="days its finished events are kept; null: the server's default")
    created_at: Timestamp
    suspended: bool
    suspended_at: Timestamp | None

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(**_tenant_fields(tenant))


class NewTenantOut(TenantOut):
    """A tenant just made: the only answer that holds its API key."""

    api_key: str
    signing_secret: str

    @classmethod
    def of_new(cls, made: NewTenant) -> NewTenantOut:
        return cls(**_tenant_fields(made.tenant), api_key=made.api_key, signing_secret=made.signing_secret)


class TenantPage(PageOut[TenantOut]):
    pass


class TenantSecretOut(View):
    signing_secret: str


class ApiKeyOut(View):
    id: str
    tenant_id: str
    prefix: str | None = Field(description="the key's first characters (null for keys made before listing)")
    created_at: Timestamp
    expires_at: Timestamp | None = Field(description="null: valid until rotated away or revoked")

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(**_key_fields(key))


class NewApiKeyOut(ApiKeyOut):
    api_key: str = Field(description="the new key, shown only in this answer")

    @classmethod
    def of_new(cls, key: ApiKey, api_key: str) -> NewApiKeyOut:
        return cls(**_key_fields(key), api_key=api_key)


class ApiKeyList(View):
    data: list[ApiKeyOut]


def _key_fields(key: ApiKey) -> dict[str, object]:
    return {"id": key.id, "tenant_id": key.tenant_id, "prefix": key.prefix, "created_at": rfc3339(key.created_at),
            "expires_at": rfc3339_or_none(key.expires_at)}


class PortalLinkOut(View):
    url: str
    tenant_id: str
    expires_at: Timestamp

    @classmethod
    def of(cls, link: PortalLink, base_url: str) -> PortalLinkOut:
        """`base_url`: where the dashboard is served, ending in a slash."""
        return cls(url=f"{base_url}ui/portal/{link.token}", tenant_id=link.tenant_id,
                   expires_at=rfc3339(link.expires_at))


def _tenant_fields(tenant: Tenant) -> dict[str, object]:
    return {"id": tenant.id, "uid": tenant.uid, "name": tenant.name, "parent_id": tenant.parent_id,
            "profile": tenant.profile, "require_https": tenant.require_https, "retention_days": tenant.retention_days,
            "created_at": rfc3339(tenant.created_at), "suspended": tenant.suspended_at is not None,
            "suspended_at": rfc3339_or_none(tenant.suspended_at)}
