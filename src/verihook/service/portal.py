"""The dashboard's callers: sessions opened with an API key or a one-time portal link, and the links themselves.

A session holds what identifies the caller (the API key's hash, or the tenant a portal link opened), never a key;
every request resolves it through the usual caller look-up, so the dashboard shows exactly what that key may.
A portal link is a signed token with a random id; opening it marks the id used in the store's meta table
(`put_meta_if_absent`, atomic across processes), so it opens once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from verihook.crypto import generate_token
from verihook.errors import Forbidden, InvalidInput, Suspended, Unauthorized
from verihook.model import Tenant
from verihook.profiles import Profile
from verihook.service import signed_tokens as tokens
from verihook.service.access import Caller, hash_api_key, tenant_caller
from verihook.service.context import Context

SESSION_TTL_S = 8 * 3600.0
PORTAL_SESSION_TTL_S = 3600.0
PORTAL_LINK_TTL_S = 300.0
MAX_PORTAL_LINK_TTL_S = 7 * 24 * 3600.0
SESSION_PURPOSE = "session"
PORTAL_LINK_PURPOSE = "portal-link"
USED_LINK_PREFIX = "portal-link:"


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # the cookie's value
    csrf: str  # what every form of this session carries
    expires_at: float
    via_portal: bool


@dataclass(frozen=True, slots=True)
class PortalLink:
    token: str
    tenant_id: str
    expires_at: float


class PortalLinkRefused(Exception):
    """A portal link that is forged, expired or opened before: the dashboard answers a page saying which."""


class Portal:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def login(self, api_key: str) -> Session:
        """A session for an API key; raises Unauthorized for an unknown key."""
        api_key = api_key.strip()
        if not api_key:
            raise Unauthorized("enter an API key")
        key_hash = hash_api_key(api_key)
        await self.ctx.caller_by_key_hash(key_hash)
        return self._session({"k": key_hash}, SESSION_TTL_S, via_portal=False)

    async def resume(self, token: str | None) -> tuple[Caller, Session]:
        """The caller of a session cookie, looked up again now; raises Unauthorized when it no longer holds."""
        now = self.ctx.clock()
        try:
            payload = tokens.verify(self.ctx.signing_key, SESSION_PURPOSE, token or "", now)
        except tokens.BadToken as error:
            raise Unauthorized(f"no valid session ({error})") from error
        session = Session(token or "", str(payload.get("c", "")), float(payload["exp"]), "t" in payload)
        if isinstance(payload.get("k"), str):
            return await self.ctx.caller_by_key_hash(payload["k"]), session
        if isinstance(payload.get("t"), str):
            return await self._tenant_caller(payload["t"]), session
        raise Unauthorized("no valid session (malformed)")

    async def create_link(self, caller: Caller, tenant_id: str, ttl_s: float | None = None) -> PortalLink:
        """A one-time link opening the dashboard as `tenant_id` (an id or a uid): made by the admin key or an
        ancestor's key."""
        ttl = PORTAL_LINK_TTL_S if ttl_s is None else ttl_s
        if not 0 < ttl <= MAX_PORTAL_LINK_TTL_S:
            raise InvalidInput(f"ttl_s must be over 0 and at most {MAX_PORTAL_LINK_TTL_S:.0f}", field="ttl_s")
        tenant = await self.ctx.visible_tenant(caller, await self.ctx.tenant_ref(caller, tenant_id) or tenant_id)
        if caller.tenant is not None and caller.tenant.id == tenant.id:
            raise Forbidden("a portal link is made with the admin key or a parent tenant's key, not the tenant's own")
        expires_at = self.ctx.clock() + ttl
        token = tokens.sign(self.ctx.signing_key, PORTAL_LINK_PURPOSE,
                            {"id": secrets.token_urlsafe(16), "t": tenant.id, "exp": expires_at})
        return PortalLink(token, tenant.id, expires_at)

    async def open_link(self, token: str) -> Session:
        """The session a portal link opens, once; raises PortalLinkRefused saying why it does not."""
        now = self.ctx.clock()
        try:
            payload = tokens.verify(self.ctx.signing_key, PORTAL_LINK_PURPOSE, token, now)
        except tokens.BadToken as error:
            reason = "it has expired" if str(error) == "expired" else "it is not a valid portal link"
            raise PortalLinkRefused(reason) from error
        link_id, tenant_id = payload.get("id"), payload.get("t")
        if not isinstance(link_id, str) or not isinstance(tenant_id, str):
            raise PortalLinkRefused("it is not a valid portal link")
        try:
            await self._tenant_caller(tenant_id)
        except Unauthorized as error:
            raise PortalLinkRefused("its tenant no longer exists") from error
        except Suspended as error:
            raise PortalLinkRefused("its tenant is suspended") from error
        mark = secrets.token_urlsafe(12)
        if await self.ctx.store.put_meta_if_absent(USED_LINK_PREFIX + link_id, mark) != mark:
            raise PortalLinkRefused("it has been opened already (a portal link opens once)")
        return self._session({"t": tenant_id}, PORTAL_SESSION_TTL_S, via_portal=True)

    async def children(self, caller: Caller) -> list[Tenant]:
        """The caller's child tenants (the admin's: the top-level tenants), oldest first."""
        parent = caller.tenant.id if caller.tenant is not None else None
        found: list[Tenant] = []
        cursor = None
        while True:
            page = await self.ctx.store.list_tenants(caller.tenant_ids, 500, cursor)
            found += [t for t in page.items if t.parent_id == parent]
            if page.next_cursor is None:
                return sorted(found, key=lambda t: (t.created_at, t.id))
            cursor = page.next_cursor

    def profiles(self) -> list[Profile]:
        """Every profile, by name: the New webhook form offers them with their event types and fixed rules."""
        registry = self.ctx.registry
        return [registry.get(name) for name in registry.names]

    def new_basic_token(self) -> str:
        """What the New webhook form proposes as a Basic token (editable before it is saved)."""
        return generate_token()

    def _session(self, identity: dict[str, str], ttl_s: float, *, via_portal: bool) -> Session:
        expires_at = self.ctx.clock() + ttl_s
        csrf = secrets.token_urlsafe(24)
        token = tokens.sign(self.ctx.signing_key, SESSION_PURPOSE, {**identity, "c": csrf, "exp": expires_at})
        return Session(token, csrf, expires_at, via_portal)

    async def _tenant_caller(self, tenant_id: str) -> Caller:
        tenant = await self.ctx.tenant(tenant_id)
        if tenant is None:
            raise Unauthorized("the session's tenant no longer exists")
        return await tenant_caller(self.ctx.store, tenant)

