"""Tenants: a reseller (any tenant) creates and reads its children; the admin every tenant."""

from __future__ import annotations

from fastapi import APIRouter, Body, Query, Request

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import PortalLinkCreate, TenantCreate, TenantPatch
from verihook.service.views import NewTenantOut, PortalLinkOut, TenantOut, TenantPage, TenantSecretOut

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], route_class=V1Route)


@router.post("", status_code=201, operation_id="v1.tenant.create")
async def create_tenant(body: TenantCreate, caller: CallerDep, service: ServiceDep) -> NewTenantOut:
    made = await service.tenants.create(caller, body.name, body.parent_id, body.profile, body.require_https,
                                        body.uid, body.retention_days)
    return NewTenantOut.of_new(made)


@router.get("", operation_id="v1.tenant.list")
async def list_tenants(caller: CallerDep, service: ServiceDep, limit: int = Query(50, ge=1, le=500),
                       cursor: str | None = None) -> TenantPage:
    return TenantPage.of(await service.tenants.list(caller, limit, cursor), TenantOut.of)


@router.get("/{tenant_id}", operation_id="v1.tenant.get")
async def get_tenant(tenant_id: str, caller: CallerDep, service: ServiceDep) -> TenantOut:
    return TenantOut.of(await service.tenants.get(caller, tenant_id))


@router.patch("/{tenant_id}", operation_id="v1.tenant.update")
async def update_tenant(tenant_id: str, body: TenantPatch, caller: CallerDep, service: ServiceDep) -> TenantOut:
    """Change what may change of a tenant (`retention_days`): the admin key or an ancestor's, not the tenant's own."""
    return TenantOut.of(await service.tenants.set_retention(caller, tenant_id, body.retention_days))


@router.get("/{tenant_id}/secrets", operation_id="v1.tenant.secrets")
async def tenant_secrets(tenant_id: str, caller: CallerDep, service: ServiceDep) -> TenantSecretOut:
    return TenantSecretOut(signing_secret=await service.tenants.signing_secret(caller, tenant_id))


@router.post("/{tenant_id}/portal-links", status_code=201, operation_id="v1.tenant.portal_link")
async def create_portal_link(tenant_id: str, request: Request, caller: CallerDep, service: ServiceDep,
                             body: PortalLinkCreate | None = Body(default=None)) -> PortalLinkOut:
    """A one-time link that opens the dashboard as this tenant (admin key or an ancestor's key)."""
    link = await service.portal.create_link(caller, tenant_id, (body or PortalLinkCreate()).ttl_s)
    return PortalLinkOut.of(link, str(request.base_url))
