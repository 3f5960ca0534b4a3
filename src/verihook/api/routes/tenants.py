"""Tenants: a reseller (any tenant) creates and reads its children; the admin every tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import PortalLinkCreate, TenantCreate, TenantPatch, page_out, tenant_out
from verihook.times import rfc3339

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], route_class=V1Route)


@router.post("", status_code=201, operation_id="v1.tenant.create")
async def create_tenant(body: TenantCreate, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    made = await service.tenants.create(caller, body.name, body.parent_id, body.profile, body.require_https,
                                        body.uid, body.retention_days)
    return tenant_out(made.tenant, api_key=made.api_key, signing_secret=made.signing_secret)


@router.get("", operation_id="v1.tenant.list")
async def list_tenants(caller: CallerDep, service: ServiceDep, limit: int = Query(50, ge=1, le=500),
                       cursor: str | None = None) -> dict[str, Any]:
    page = await service.tenants.list(caller, limit, cursor)
    return page_out([tenant_out(t) for t in page.items], page.next_cursor)


@router.get("/{tenant_id}", operation_id="v1.tenant.get")
async def get_tenant(tenant_id: str, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    return tenant_out(await service.tenants.get(caller, tenant_id))


@router.patch("/{tenant_id}", operation_id="v1.tenant.update")
async def update_tenant(tenant_id: str, body: TenantPatch, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    """Change what may change of a tenant (`retention_days`): the admin key or an ancestor's, not the tenant's own."""
    return tenant_out(await service.tenants.set_retention(caller, tenant_id, body.retention_days))


@router.get("/{tenant_id}/secrets", operation_id="v1.tenant.secrets")
async def tenant_secrets(tenant_id: str, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    return {"signing_secret": await service.tenants.signing_secret(caller, tenant_id)}


@router.post("/{tenant_id}/portal-links", status_code=201, operation_id="v1.tenant.portal_link")
async def create_portal_link(tenant_id: str, request: Request, caller: CallerDep, service: ServiceDep,
                             body: PortalLinkCreate | None = Body(default=None)) -> dict[str, Any]:
    """A one-time link that opens the dashboard as this tenant (admin key or an ancestor's key)."""
    link = await service.portal.create_link(caller, tenant_id, (body or PortalLinkCreate()).ttl_s)
    return {"url": f"{request.base_url}ui/portal/{link.token}", "tenant_id": link.tenant_id,
            "expires_at": rfc3339(link.expires_at)}
