"""Every permission decision lives in the service: the API and the dashboard only pass the caller on."""

from __future__ import annotations

import pytest

from verihook.errors import Forbidden, NotFound
from verihook.runtime import Runtime
from verihook.service import ADMIN

SCHEMA = {"type": "object"}


async def test_only_the_admin_registers_event_types(runtime: Runtime) -> None:
    service = runtime.service
    tenant = await service.authenticate((await service.tenants.create(ADMIN, "acme")).api_key)
    with pytest.raises(Forbidden, match="admin"):
        await service.events.register_type(tenant, "acme.thing_done", SCHEMA, "")
    registered = await service.events.register_type(ADMIN, "acme.thing_done", SCHEMA, "")
    assert registered.name == "acme.thing_done"


async def test_a_tenant_sees_its_children_and_never_its_parent_or_siblings(runtime: Runtime) -> None:
    service = runtime.service
    parent = await service.tenants.create(ADMIN, "reseller")
    parent_caller = await service.authenticate(parent.api_key)
    child = await service.tenants.create(parent_caller, "child")
    parent_caller = await service.authenticate(parent.api_key)  # a caller carries the tenants it saw when made
    sibling = await service.tenants.create(ADMIN, "other")
    child_caller = await service.authenticate(child.api_key)
    assert (await service.tenants.get(parent_caller, child.tenant.id)).id == child.tenant.id
    for caller, tenant_id in ((child_caller, parent.tenant.id), (parent_caller, sibling.tenant.id),
                              (child_caller, sibling.tenant.id)):
        with pytest.raises(NotFound):
            await service.tenants.get(caller, tenant_id)


async def test_an_endpoint_of_another_tenant_is_not_found(runtime: Runtime) -> None:
    service = runtime.service
    owner = await service.authenticate((await service.tenants.create(ADMIN, "owner")).api_key)
    stranger = await service.authenticate((await service.tenants.create(ADMIN, "stranger")).api_key)
    view = await service.endpoints.create(owner, {"url": "https://receiver.example/hook"})
    for use in (service.endpoints.get, service.endpoints.delete, service.test_endpoint):
        with pytest.raises(NotFound):
            await use(stranger, view.endpoint.id)
