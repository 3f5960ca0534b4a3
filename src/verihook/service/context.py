"""What every use case needs: the store, the profiles, the settings, the clock and the dispatcher's doorbell."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from verihook.config import Settings
from verihook.errors import InvalidInput, NotFound
from verihook.metrics import Metrics
from verihook.model import Tenant
from verihook.profiles import ProfileRegistry
from verihook.service.access import Caller, authenticate, authenticate_key_hash, hash_api_key, refuse_if_suspended
from verihook.store.base import Store
from verihook.tracing import Tracing

# how long a key's caller is reused: a child made, a key revoked or a tenant suspended in another process holds
# here after this at the latest (in this process at once)
CALLER_TTL_S = 5.0
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
    # tenants do not change once made, but for their suspension: read from the store where it matters
    _tenants: dict[str, Tenant] = field(default_factory=dict)
    _callers: dict[str, tuple[float, Caller]] = field(default_factory=dict)
    _suspension_checked: dict[str, float] = field(default_factory=dict)  # tenant id: not suspended until then
    # uid: (until, the ids of the tenants that have it); a tenant made elsewhere with that uid counts after this
    _uids: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)

    async def caller(self, api_key: str | None) -> Caller:
        """The caller an API key stands for, reused for CALLER_TTL_S."""
        if not api_key:
            return await authenticate(self.store, self.admin_key_hash, api_key, self.clock())
        return await self.caller_by_key_hash(hash_api_key(api_key))

    async def caller_by_key_hash(self, key_hash: str) -> Caller:
        """The caller whose API key has this hash (a dashboard session holds the hash, never the key)."""
        cached = self._callers.get(key_hash)
        now = self.clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        caller = await authenticate_key_hash(self.store, self.admin_key_hash, key_hash, now)
        if len(self._callers) >= MAX_CACHED:
            self._callers.clear()
        until = now + CALLER_TTL_S  # but never past the key's own end
        self._callers[key_hash] = (min(until, caller.key_expires_at or until), caller)
        return caller

    def tenant_tree_changed(self) -> None:
        """A tenant, key or suspension changed here: no caller or suspension check made before is reused."""
        self._callers.clear()
        self._suspension_checked.clear()
        self._uids.clear()

    async def refuse_if_suspended(self, tenant_id: str) -> None:
        """Raise Suspended while the tenant or an ancestor is suspended (a check passed is reused CALLER_TTL_S)."""
        now = self.clock()
        if self._suspension_checked.get(tenant_id, 0.0) > now:
            return
        await refuse_if_suspended(self.store, tenant_id)
        if len(self._suspension_checked) >= MAX_CACHED:
            self._suspension_checked.clear()
        self._suspension_checked[tenant_id] = now + CALLER_TTL_S

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

    async def tenant_ref(self, caller: Caller, ref: str | None, field_name: str = "tenant_id") -> str | None:
        """The tenant id a reference stands for: a Verihook id (`ten_...`) as it is, else the one tenant the caller
        may see whose `uid` it is (uids are unique per parent only); a reference that names no such tenant is
        returned unchanged (its use answers 404); one that names several is refused, naming `field_name`."""
        if ref is None or ref.startswith(TENANT_ID_PREFIX):
            return ref
        now = self.clock()
        cached = self._uids.get(ref)
        if cached is None or cached[0] <= now:
            if len(self._uids) >= MAX_CACHED:
                self._uids.clear()
            cached = self._uids[ref] = (now + CALLER_TTL_S,
                                        tuple(t.id for t in await self.store.tenants_by_uid(ref)))
        seen = [tenant_id for tenant_id in cached[1] if caller.can_see(tenant_id)]
        if len(seen) > 1:
            raise InvalidInput(f"several tenants you act for have the uid {ref!r} (a uid is unique among one "
                               "parent's children only): name the tenant by its id (ten_...)", field=field_name)
        return seen[0] if seen else ref

    async def visible_tenant(self, caller: Caller, tenant_id: str, field_name: str | None = None) -> Tenant:
        """The tenant, if the caller may see it; `field_name`: the request field that named it (for the 404)."""
        tenant = await self.tenant(tenant_id) if caller.can_see(tenant_id) else None
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found", field=field_name)
        return tenant
