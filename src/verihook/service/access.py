"""Who is calling, and which tenants they may see: the admin sees all, a tenant its own subtree."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from verihook.errors import InvalidInput, NotFound, Unauthorized
from verihook.model import Tenant
from verihook.store.base import Store


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: Tenant | None  # None: the admin
    visible: frozenset[str] | None  # None: every tenant

    @property
    def is_admin(self) -> bool:
        return self.tenant is None

    @property
    def tenant_ids(self) -> Sequence[str] | None:
        return None if self.visible is None else sorted(self.visible)

    def can_see(self, tenant_id: str) -> bool:
        return self.visible is None or tenant_id in self.visible

    def owning_tenant(self, tenant_id: str | None) -> str:
        """The tenant a new resource belongs to: the one named, else the caller's own."""
        if tenant_id is None:
            if self.tenant is None:
                raise InvalidInput("tenant_id is required when acting with the admin key", field="tenant_id")
            return self.tenant.id
        if not self.can_see(tenant_id):
            raise NotFound(f"tenant {tenant_id} not found", field="tenant_id")
        return tenant_id


ADMIN = Caller(tenant=None, visible=None)


ADMIN_KEY_HASH = "admin_key_hash"


async def authenticate(store: Store, admin_key_hash: str | None, api_key: str | None) -> Caller:
    if not api_key:
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    return await authenticate_key_hash(store, admin_key_hash, hash_api_key(api_key))


async def authenticate_key_hash(store: Store, admin_key_hash: str | None, key_hash: str) -> Caller:
    if admin_key_hash is not None and hmac.compare_digest(key_hash, admin_key_hash):
        return ADMIN
    tenant = await store.tenant_by_key_hash(key_hash)
    if tenant is None:
        raise Unauthorized("unknown API key")
    return Caller(tenant=tenant, visible=frozenset(await store.descendant_ids(tenant.id)))
