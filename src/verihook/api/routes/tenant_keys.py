"""A tenant's API keys (rotate, list, revoke) and its suspension (suspend, resume)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Response
from pydantic import Field

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import Strict
from verihook.service.tenant_keys import MAX_GRACE_S
from verihook.service.views import ApiKeyList, ApiKeyOut, NewApiKeyOut, TenantOut

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], route_class=V1Route)


class KeyRotate(Strict):
    grace_s: float | None = Field(default=None, ge=0, le=MAX_GRACE_S,
                                  description="how long the older keys stay valid (default 86400; 0: not at all)")


@router.post("/{tenant_id}/keys", status_code=201, operation_id="v1.tenant.key.rotate")
async def rotate_key(tenant_id: str, caller: CallerDep, service: ServiceDep,
                     body: KeyRotate | None = Body(default=None)) -> NewApiKeyOut:
    """A new API key for the tenant, answered once; its older keys stay valid for `grace_s`."""
    made = await service.keys.rotate(caller, tenant_id, (body or KeyRotate()).grace_s)
    return NewApiKeyOut.of_new(made.key, made.api_key)


@router.get("/{tenant_id}/keys", operation_id="v1.tenant.key.list")
async def list_keys(tenant_id: str, caller: CallerDep, service: ServiceDep) -> ApiKeyList:
    return ApiKeyList(data=[ApiKeyOut.of(key) for key in await service.keys.list(caller, tenant_id)])


@router.delete("/{tenant_id}/keys/{key_id}", status_code=204, operation_id="v1.tenant.key.revoke")
async def revoke_key(tenant_id: str, key_id: str, caller: CallerDep, service: ServiceDep) -> Response:
    await service.keys.revoke(caller, tenant_id, key_id)
    return Response(status_code=204)


@router.post("/{tenant_id}/suspend", operation_id="v1.tenant.suspend")
async def suspend_tenant(tenant_id: str, caller: CallerDep, service: ServiceDep) -> TenantOut:
    """Suspend the tenant and its descendants (the admin key or an ancestor's)."""
    return TenantOut.of(await service.keys.set_suspended(caller, tenant_id, True))


@router.post("/{tenant_id}/resume", operation_id="v1.tenant.resume")
async def resume_tenant(tenant_id: str, caller: CallerDep, service: ServiceDep) -> TenantOut:
    return TenantOut.of(await service.keys.set_suspended(caller, tenant_id, False))
