"""Tenants: create (the admin any, a tenant its children), read, list."""

from __future__ import annotations

import re
from dataclasses import dataclass

from verihook.delivery.signing import generate_secret
from verihook.errors import Conflict, Forbidden, InvalidInput
from verihook.ids import new_id
from verihook.model import Page, Tenant
from verihook.service.access import Caller, hash_api_key, new_api_key
from verihook.service.context import TENANT_ID_PREFIX, Context

UID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(slots=True)
class NewTenant:
    tenant: Tenant
    api_key: str
    signing_secret: str


class Tenants:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def create(self, caller: Caller, name: str, parent_id: str | None = None, profile: str | None = None,
                     require_https: bool = False, uid: str | None = None) -> NewTenant:
        if uid is not None:
            await self._check_uid(uid)
        parent_id = await self.ctx.tenant_ref(parent_id)
        if parent_id is None and not caller.is_admin:
            parent_id = caller.owning_tenant(None)
        parent = await self.ctx.visible_tenant(caller, parent_id, "parent_id") if parent_id is not None else None
        if parent is None and not caller.is_admin:
            raise Forbidden("only the admin key creates top-level tenants")
        profile = self.ctx.registry.check_name(profile) if profile else (parent.profile if parent else "standard")
        tenant = Tenant(id=new_id("ten"), name=name, parent_id=parent_id, profile=profile,
                        require_https=require_https or bool(parent and parent.require_https),
                        created_at=self.ctx.clock(), uid=uid)
        api_key, prefix = new_api_key()
        signing_secret = generate_secret()
        await self.ctx.store.insert_tenant(tenant, hash_api_key(api_key), signing_secret, prefix)
        self.ctx.tenant_tree_changed()
        return NewTenant(tenant, api_key, signing_secret)

    async def _check_uid(self, uid: str) -> None:
        if not UID.match(uid):
            raise InvalidInput("uid must be 1 to 64 characters of A-Z a-z 0-9 . _ : -", field="uid")
        if uid.startswith(TENANT_ID_PREFIX):
            raise InvalidInput(f"uid must not start with {TENANT_ID_PREFIX!r}, the prefix of Verihook's own tenant "
                               "ids", field="uid")
        if await self.ctx.store.tenant_by_uid(uid) is not None:
            raise Conflict(f"a tenant with uid {uid!r} exists already", field="uid")

    async def get(self, caller: Caller, tenant_id: str) -> Tenant:
        """The tenant as stored now (its suspension included: the context's copy does not follow it)."""
        tenant = await self.ctx.visible_tenant(caller, await self.ctx.tenant_ref(tenant_id) or tenant_id)
        return await self.ctx.store.get_tenant(tenant.id) or tenant

    async def list(self, caller: Caller, limit: int, cursor: str | None) -> Page[Tenant]:
        return await self.ctx.store.list_tenants(caller.tenant_ids, limit, cursor)

    async def signing_secret(self, caller: Caller, tenant_id: str) -> str:
        tenant = await self.get(caller, tenant_id)
        return await self.ctx.store.tenant_signing_secret(tenant.id)
