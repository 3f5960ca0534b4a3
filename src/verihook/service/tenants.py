"""Tenants: create (the admin any, a tenant its children), read, list."""

from __future__ import annotations

import re
from dataclasses import dataclass

from verihook.config import RETENTION_DAYS_RANGE
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
                     require_https: bool = False, uid: str | None = None, retention_days: int | None = None
                     ) -> NewTenant:
        _check_retention(retention_days)
        if uid is not None:
            _check_uid_form(uid)
        parent_id = await self.ctx.tenant_ref(caller, parent_id, "parent_id")
        if parent_id is None and not caller.is_admin:
            parent_id = caller.owning_tenant(None)
        parent = await self.ctx.visible_tenant(caller, parent_id, "parent_id") if parent_id is not None else None
        if parent is None and not caller.is_admin:
            raise Forbidden("only the admin key creates top-level tenants")
        if uid is not None:
            await self._check_uid_free(uid, parent_id)
        profile = self.ctx.registry.check_name(profile) if profile else (parent.profile if parent else "standard")
        tenant = Tenant(id=new_id("ten"), name=name, parent_id=parent_id, profile=profile,
                        require_https=require_https or bool(parent and parent.require_https),
                        created_at=self.ctx.clock(), uid=uid, retention_days=retention_days)
        api_key, prefix = new_api_key()
        signing_secret = generate_secret()
        await self.ctx.store.insert_tenant(tenant, hash_api_key(api_key), signing_secret, prefix)
        self.ctx.tenant_tree_changed()
        return NewTenant(tenant, api_key, signing_secret)

    async def _check_uid_free(self, uid: str, parent_id: str | None) -> None:
        """A uid is unique among one parent's children (top-level tenants: among them): a 409 names only a
        sibling, which whoever may create the tenant sees already; tenants elsewhere may have the same uid."""
        if any(t.parent_id == parent_id for t in await self.ctx.store.tenants_by_uid(uid)):
            where = f"tenant {parent_id}" if parent_id else "the top level"
            raise Conflict(f"a tenant with uid {uid!r} exists already under {where}", field="uid")

    async def get(self, caller: Caller, tenant_id: str) -> Tenant:
        """The tenant as stored now (its suspension and retention_days included: the context's copy does not follow
        them, and another process may have changed them)."""
        tenant = await self.ctx.visible_tenant(caller, await self.ctx.tenant_ref(caller, tenant_id) or tenant_id)
        return await self.ctx.store.get_tenant(tenant.id) or tenant

    async def set_retention(self, caller: Caller, tenant_id: str, days: int | None) -> Tenant:
        """Set how long the tenant's finished events are kept (None: VERIHOOK_RETENTION_DAYS): the admin key or
        an ancestor's, never the tenant's own."""
        _check_retention(days)
        tenant = await self.get(caller, tenant_id)
        if caller.tenant is not None and caller.tenant.id == tenant.id:
            raise Forbidden("a tenant's retention_days is set by its parent or the admin key, not by the tenant")
        await self.ctx.store.set_tenant_retention(tenant.id, days)
        tenant.retention_days = days
        self.ctx.tenant_changed(tenant)
        return tenant

    async def list(self, caller: Caller, limit: int, cursor: str | None) -> Page[Tenant]:
        return await self.ctx.store.list_tenants(caller.tenant_ids, limit, cursor)

    async def signing_secret(self, caller: Caller, tenant_id: str) -> str:
        tenant = await self.get(caller, tenant_id)
        return await self.ctx.store.tenant_signing_secret(tenant.id)


def _check_retention(days: int | None) -> None:
    low, high = RETENTION_DAYS_RANGE
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not low <= days <= high):
        raise InvalidInput(f"retention_days must be a whole number of days from {low} to {high}, or null for the "
                           "default (VERIHOOK_RETENTION_DAYS)", field="retention_days")


def _check_uid_form(uid: str) -> None:
    if not UID.match(uid):
        raise InvalidInput("uid must be 1 to 64 characters of A-Z a-z 0-9 . _ : -", field="uid")
    if uid.startswith(TENANT_ID_PREFIX):
        raise InvalidInput(f"uid must not start with {TENANT_ID_PREFIX!r}, the prefix of Verihook's own tenant ids",
                           field="uid")
