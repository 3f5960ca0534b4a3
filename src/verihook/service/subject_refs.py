"""Which subject a request names. A subject's id is unique within its tenant only, so a request names a subject by
its id and, optionally, its tenant (`tenant_id`: a Verihook id or the tenant's uid).

Without a tenant: the caller's own tenant's subject of that id if it has one, else the one subject of that id
among the tenants the caller may see (its descendants; every tenant for the admin key); when several of those
tenants have one, the request must name the tenant (422 naming `tenant_id`). A subject of a tenant the caller may
not see is never found, never named in an answer, and never stops the caller from using that id.
"""

from __future__ import annotations

from verihook.errors import InvalidInput, NotFound
from verihook.model import Subject
from verihook.service.access import Caller
from verihook.service.context import Context


async def find_subject(ctx: Context, caller: Caller, subject_id: str, tenant_ref: str | None = None,
                       field: str | None = None) -> Subject:
    """The subject the caller names; NotFound (naming `field`) when it may see no such subject."""
    missing = NotFound(f"subject {subject_id} not found", field=field)
    if tenant_ref is not None:
        tenant_id = await ctx.tenant_ref(caller, tenant_ref) or tenant_ref
        subject = await ctx.store.get_subject(tenant_id, subject_id) if caller.can_see(tenant_id) else None
        if subject is None:
            raise missing
        return subject
    if caller.tenant is not None:
        own = await ctx.store.get_subject(caller.tenant.id, subject_id)
        if own is not None:
            return own
    found = await ctx.store.subjects_with_id(subject_id, caller.tenant_ids, 2)
    if not found:
        raise missing
    if len(found) > 1:
        raise InvalidInput(f"several tenants you act for have a subject {subject_id}: name the one you mean with "
                           "tenant_id", field="tenant_id")
    return found[0]
