"""A tenant's API keys (rotate, list, revoke) and its suspension.

Keys are managed by the tenant itself, an ancestor or the admin; a tenant is suspended and resumed by an ancestor
or the admin, never by its own key. Every change is seen by this process's callers at once and by other
processes' within CALLER_TTL_S (service/context.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from verihook.errors import Forbidden, InvalidInput, NotFound
from verihook.ids import new_id
from verihook.model import ApiKey, Tenant
from verihook.service.access import Caller, hash_api_key, new_api_key
from verihook.service.context import Context

DEFAULT_GRACE_S = 24 * 3600.0  # how long the older keys stay valid after a rotation, unless told
MAX_GRACE_S = 30 * 24 * 3600.0


@dataclass(slots=True)
class NewApiKey:
    key: ApiKey
    api_key: str  # shown once, never stored


class TenantKeys:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def rotate(self, caller: Caller, tenant_id: str, grace_s: float | None = None) -> NewApiKey:
        """A new key; the tenant's older keys stay valid `grace_s` more (0: they stop at once)."""
        grace = DEFAULT_GRACE_S if grace_s is None else grace_s
        if not 0 <= grace <= MAX_GRACE_S:
            raise InvalidInput(f"grace_s must be 0 to {MAX_GRACE_S:.0f} seconds", field="grace_s")
        tenant = await self._tenant(caller, tenant_id)
        now = self.ctx.clock()
        api_key, prefix = new_api_key()
        key = ApiKey(id=new_id("key"), tenant_id=tenant.id, prefix=prefix, created_at=now, expires_at=None)
        await self.ctx.store.add_api_key(key, hash_api_key(api_key), now + grace)
        self.ctx.tenant_tree_changed()
        return NewApiKey(key, api_key)

    async def list(self, caller: Caller, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys valid now, oldest first."""
        tenant = await self._tenant(caller, tenant_id)
        return await self.ctx.store.api_keys(tenant.id, self.ctx.clock())

    async def revoke(self, caller: Caller, tenant_id: str, key_id: str) -> None:
        tenant = await self._tenant(caller, tenant_id)
        if not await self.ctx.store.revoke_api_key(tenant.id, key_id, self.ctx.clock()):
            raise NotFound(f"key {key_id} not found (or revoked or expired already)", field="key_id")
        self.ctx.tenant_tree_changed()

    async def set_suspended(self, caller: Caller, tenant_id: str, suspended: bool) -> Tenant:
        """Suspend or resume the tenant (and with it its descendants); answers the tenant as it is now."""
        tenant = await self._tenant(caller, tenant_id)
        if caller.tenant is not None and caller.tenant.id == tenant.id:
            raise Forbidden("a tenant is suspended or resumed with the admin key or an ancestor's key, not its own")
        current = await self.ctx.store.get_tenant(tenant.id) or tenant
        if suspended != (current.suspended_at is not None):
            await self.ctx.store.set_tenant_suspended(tenant.id, self.ctx.clock() if suspended else None)
            self.ctx.tenant_tree_changed()
        return await self.ctx.store.get_tenant(tenant.id) or tenant

    async def _tenant(self, caller: Caller, tenant_id: str) -> Tenant:
        return await self.ctx.visible_tenant(caller, await self.ctx.tenant_ref(caller, tenant_id) or tenant_id)
