"""What every use case needs: the store, the profiles, the settings, the clock and the dispatcher's doorbell."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from verihook.config import Settings
from verihook.errors import NotFound
from verihook.metrics import Metrics
from verihook.model import Tenant
from verihook.profiles import ProfileRegistry
from verihook.service.access import Caller, authenticate, authenticate_key_hash, hash_api_key
from verihook.store.base import Store
from verihook.tracing import Tracing

CALLER_TTL_S = 5.0  # how long a key's view of the tenant tree is reused; a child made elsewhere shows after this
MAX_CACHED = 10_000
TENANT_ID_PREFIX = "ten_"  # Verihook's tenant ids; a uid may not start so


@dataclass(slots=True)
class Context:
    store: Store
    registry: ProfileRegistry
    settings: Settings
    admin_key_hash: str | None = None
    wake_dispatcher: Callable[[], None] = lambda: None
    clock: Callable[[], float] = field(default=time.time)
    # signs dashboard sessions and portal links; the same in every process of one deployment (runtime derives it
    # from the secret key); a random one only where none is given, so nothing signed outlives the process
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    metrics: Metrics = field(default_factory=Metrics)
    tracing: Tracing = field(default_factory=Tracing)
    _tenants: dict[str, Tenant] = field(default_factory=dict)  # tenants do not change once made
    _callers: dict[str, tuple[float, Caller]] = field(default_factory=dict)
    _uids: dict[str, str] = field(default_factory=dict)  # a tenant's uid never changes

    async def caller(self, api_key: str | None) -> Caller:
        """The caller an API key stands for, reused for CALLER_TTL_S."""
        if not api_key:
            return await authenticate(self.store, self.admin_key_hash, api_key)
        return await self.caller_by_key_hash(hash_api_key(api_key))

    async def caller_by_key_hash(self, key_hash: str) -> Caller:
        """The caller whose API key has this hash (a dashboard session holds the hash, never the key)."""
        cached = self._callers.get(key_hash)
        now = self.clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        caller = await authenticate_key_hash(self.store, self.admin_key_hash, key_hash)
        if len(self._callers) >= MAX_CACHED:
            self._callers.clear()
        self._callers[key_hash] = (now + CALLER_TTL_S, caller)
        return caller

    def tenant_tree_changed(self) -> None:
        self._callers.clear()

    def tenant_changed(self, tenant: Tenant) -> None:
        """A tenant's settings changed here: the cached tenant is replaced (callers hold it too)."""
        self._tenants[tenant.id] = tenant
        self._callers.clear()

    async def tenant(self, tenant_id: str) -> Tenant | None:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            tenant = await self.store.get_tenant(tenant_id)
            if tenant is not None:
                if len(self._tenants) >= MAX_CACHED:
                    self._tenants.clear()
                self._tenants[tenant_id] = tenant
        return tenant

    async def tenant_ref(self, ref: str | None) -> str | None:
        """The tenant id a reference stands for: a Verihook id (`ten_...`) as it is, else the tenant whose `uid`
        it is; a reference that names no tenant is returned unchanged (its use answers 404)."""
        if ref is None or ref.startswith(TENANT_ID_PREFIX):
            return ref
        tenant_id = self._uids.get(ref)
        if tenant_id is None:
            tenant = await self.store.tenant_by_uid(ref)
            if tenant is None:
                return ref
            if len(self._uids) >= MAX_CACHED:
                self._uids.clear()
            tenant_id = self._uids[ref] = tenant.id
        return tenant_id

    async def visible_tenant(self, caller: Caller, tenant_id: str, field_name: str | None = None) -> Tenant:
        """The tenant, if the caller may see it; `field_name`: the request field that named it (for the 404)."""
        tenant = await self.tenant(tenant_id) if caller.can_see(tenant_id) else None
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found", field=field_name)
        return tenant
