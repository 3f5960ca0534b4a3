"""Who is calling, and which tenants they may see: the admin sees all, a tenant its own subtree."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from verihook.errors import InvalidInput, NotFound, Suspended, Unauthorized
from verihook.model import Tenant
from verihook.store.base import Store

API_KEY_PREFIX = "vh_"
SHOWN_PREFIX_CHARS = 10  # what a key listing shows of a key: "vh_" and 7 of its 43 random characters


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A new tenant API key (256 bits of randomness) and the prefix a listing shows of it."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:SHOWN_PREFIX_CHARS]


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: Tenant | None  # None: the admin
    visible: frozenset[str] | None  # None: every tenant
    key_expires_at: float | None = None  # the key's end (a rotation's grace); None: no end set

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


async def authenticate(store: Store, admin_key_hash: str | None, api_key: str | None, now: float) -> Caller:
    if not api_key:
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    return await authenticate_key_hash(store, admin_key_hash, hash_api_key(api_key), now)


async def authenticate_key_hash(store: Store, admin_key_hash: str | None, key_hash: str, now: float) -> Caller:
    """The caller of a key valid at `now`; a tenant's key answers 403 while it or an ancestor is suspended."""
    if admin_key_hash is not None and hmac.compare_digest(key_hash, admin_key_hash):
        return ADMIN
    found = await store.tenant_by_key_hash(key_hash, now)
    if found is None:
        raise Unauthorized("unknown API key")
    return await tenant_caller(store, *found)


async def tenant_caller(store: Store, tenant: Tenant, key_expires_at: float | None = None) -> Caller:
    """The caller acting as `tenant` (its key, or a portal session), refused while it or an ancestor is suspended."""
    await refuse_if_suspended(store, tenant.id)
    return Caller(tenant=tenant, visible=frozenset(await store.descendant_ids(tenant.id)),
                  key_expires_at=key_expires_at)


async def refuse_if_suspended(store: Store, tenant_id: str) -> None:
    suspended = await store.suspended_ancestor(tenant_id)
    if suspended is not None:
        which = "" if suspended == tenant_id else f" with its ancestor {suspended}"
        raise Suspended(f"tenant {tenant_id} is suspended{which}")
