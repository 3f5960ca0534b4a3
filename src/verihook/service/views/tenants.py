"""Tenants as the API shows them: with their secrets only when just made; their portal links."""

from __future__ import annotations

from verihook.model import Tenant
from verihook.service.portal import PortalLink
from verihook.service.tenants import NewTenant
from verihook.service.views.common import PageOut, Timestamp, View
from verihook.times import rfc3339


class TenantOut(View):
    id: str
    uid: str | None
    name: str
    parent_id: str | None
    profile: str
    require_https: bool
    created_at: Timestamp

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
            "profile": tenant.profile, "require_https": tenant.require_https,
            "created_at": rfc3339(tenant.created_at)}
