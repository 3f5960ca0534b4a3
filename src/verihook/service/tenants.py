"""Tenants: create (the admin any, a tenant its children), read, list."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from verihook.delivery.signing import generate_secret
from verihook.errors import Forbidden
from verihook.ids import new_id
from verihook.model import Page, Tenant
from verihook.service.access import Caller, hash_api_key
from verihook.service.context import Context

API_KEY_PREFIX = "vh_"


@dataclass(slots=True)
class NewTenant:
    tenant: Tenant
    api_key: str
    signing_secret: str


class Tenants:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def create(self, caller: Caller, name: str, parent_id: str | None = None, profile: str | None = None,
                     require_https: bool = False) -> NewTenant:
        if parent_id is None and not caller.is_admin:
            parent_id = caller.owning_tenant(None)
        parent = await self.ctx.visible_tenant(caller, parent_id, "parent_id") if parent_id is not None else None
        if parent is None and not caller.is_admin:
            raise Forbidden("only the admin key creates top-level tenants")
        profile = self.ctx.registry.check_name(profile) if profile else (parent.profile if parent else "standard")
        tenant = Tenant(id=new_id("ten"), name=name, parent_id=parent_id, profile=profile,
                        require_https=require_https or bool(parent and parent.require_https),
                        created_at=self.ctx.clock())
        api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        signing_secret = generate_secret()
        await self.ctx.store.insert_tenant(tenant, hash_api_key(api_key), signing_secret)
        self.ctx.tenant_tree_changed()
        return NewTenant(tenant, api_key, signing_secret)

    async def get(self, caller: Caller, tenant_id: str) -> Tenant:
        return await self.ctx.visible_tenant(caller, tenant_id)

    async def list(self, caller: Caller, limit: int, cursor: str | None) -> Page[Tenant]:
        return await self.ctx.store.list_tenants(caller.tenant_ids, limit, cursor)

    async def signing_secret(self, caller: Caller, tenant_id: str) -> str:
        await self.ctx.visible_tenant(caller, tenant_id)
        return await self.ctx.store.tenant_signing_secret(tenant_id)
