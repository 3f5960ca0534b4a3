"""What every use case needs: the store, the profiles, the settings, the clock and the dispatcher's doorbell."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from verihook.config import Settings
from verihook.errors import NotFound
from verihook.model import Tenant
from verihook.profiles import ProfileRegistry
from verihook.service.access import Caller
from verihook.store.base import Store


@dataclass(slots=True)
class Context:
    store: Store
    registry: ProfileRegistry
    settings: Settings
    admin_key_hash: str | None = None
    wake_dispatcher: Callable[[], None] = lambda: None
    clock: Callable[[], float] = field(default=time.time)

    async def visible_tenant(self, caller: Caller, tenant_id: str, field_name: str | None = None) -> Tenant:
        """The tenant, if the caller may see it; `field_name`: the request field that named it (for the 404)."""
        tenant = await self.store.get_tenant(tenant_id) if caller.can_see(tenant_id) else None
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found", field=field_name)
        return tenant
