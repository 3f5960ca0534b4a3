"""A tenant's API keys (rotate, list, revoke) and its suspension (suspend, resume)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, Field

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import Strict, tenant_out
from verihook.model import ApiKey
from verihook.service.tenant_keys import MAX_GRACE_S
from verihook.times import rfc3339, rfc3339_or_none

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], route_class=V1Route)


class KeyRotate(Strict):
    grace_s: float | None = Field(default=None, ge=0, le=MAX_GRACE_S,
                                  description="how long the older keys stay valid (default 86400; 0: not at all)")


class ApiKeyOut(BaseModel):
    id: str
    tenant_id: str
    prefix: str | None = Field(description="the key's first characters (null for keys made before listing)")
    created_at: str
    expires_at: str | None = Field(description="null: valid until rotated away or revoked")


class NewApiKeyOut(ApiKeyOut):
    api_key: str = Field(description="the new key, shown only in this answer")


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]


def key_out(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "tenant_id": key.tenant_id, "prefix": key.prefix, "created_at": rfc3339(key.created_at),
            "expires_at": rfc3339_or_none(key.expires_at)}


@router.post("/{tenant_id}/keys", status_code=201, operation_id="v1.tenant.key.rotate", response_model=NewApiKeyOut)
async def rotate_key(tenant_id: str, caller: CallerDep, service: ServiceDep,
                     body: KeyRotate | None = Body(default=None)) -> dict[str, Any]:
    """A new API key for the tenant, answered once; its older keys stay valid for `grace_s`."""
    made = await service.keys.rotate(caller, tenant_id, (body or KeyRotate()).grace_s)
    return {**key_out(made.key), "api_key": made.api_key}


@router.get("/{tenant_id}/keys", operation_id="v1.tenant.key.list", response_model=ApiKeyList)
async def list_keys(tenant_id: str, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    return {"data": [key_out(key) for key in await service.keys.list(caller, tenant_id)]}


@router.delete("/{tenant_id}/keys/{key_id}", status_code=204, operation_id="v1.tenant.key.revoke")
async def revoke_key(tenant_id: str, key_id: str, caller: CallerDep, service: ServiceDep) -> Response:
    await service.keys.revoke(caller, tenant_id, key_id)
    return Response(status_code=204)


@router.post("/{tenant_id}/suspend", operation_id="v1.tenant.suspend")
async def suspend_tenant(tenant_id: str, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    """Suspend the tenant and its descendants (the admin key or an ancestor's)."""
    return tenant_out(await service.keys.set_suspended(caller, tenant_id, True))


@router.post("/{tenant_id}/resume", operation_id="v1.tenant.resume")
async def resume_tenant(tenant_id: str, caller: CallerDep, service: ServiceDep) -> dict[str, Any]:
    return tenant_out(await service.keys.set_suspended(caller, tenant_id, False))
