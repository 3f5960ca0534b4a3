"""Tenant isolation on every route, generated from what the app serves: each operation of the live /openapi.json and
each route of the dashboard's router is called with another tenant's key (or session) and with a child's on its
parent's real resources (ids in the path, in filters and in cursors; refused, nothing of the owner's in the
answer, the owner's resources unchanged after), then with the parent's on its child's and the admin's on the
owner's (allowed). A route the table (tests/support/isolation.py) does not name fails the test, naming it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount, Route

from tests.support.api import Api
from tests.support.browserless import DashboardClient
from tests.support.isolation import (
    API_TABLE,
    UI_TABLE,
    Holdings,
    Operation,
    Role,
    Scope,
    Variant,
    build_holdings,
    dashboard_routes,
    new_marker,
    openapi_routes,
    uncovered,
)
from tests.support.receivers import Receiver
from tests.support.server import Running
from verihook.web import create_dashboard
from verihook.web.routes import auth, endpoints, events, tenants


def test_a_route_missing_from_the_table_fails_the_walk_naming_it() -> None:
    served = [operation.route for operation in API_TABLE]
    assert uncovered(served, API_TABLE) == []
    assert uncovered([*served, "GET /v1/tenants/{tenant_id}/audit"], API_TABLE) == [
        "route not covered by the isolation walk: GET /v1/tenants/{tenant_id}/audit"]
    assert uncovered(served[1:], API_TABLE) == [
        "route in the isolation walk's table but not served: POST /v1/tenants"]
    document = {"paths": {"/v1/tenants": {"post": {}, "get": {}, "parameters": []}, "/healthz": {"get": {}}}}
    assert openapi_routes(document) == ["POST /v1/tenants", "GET /v1/tenants", "GET /healthz"]

    async def page(_: Any) -> Response:
        return Response("")

    dashboard = Starlette(routes=[*create_dashboard_routes(), Route("/audit/{tenant_id}", page, methods=["GET"]),
                                  Route("/audit/{tenant_id}", page, methods=["POST"])])
    assert uncovered(dashboard_routes(dashboard.routes), UI_TABLE) == [
        "route not covered by the isolation walk: GET /ui/audit/{tenant_id}",
        "route not covered by the isolation walk: POST /ui/audit/{tenant_id}"]
    assert dashboard_routes([Mount("/static", routes=[])]) == ["MOUNT /ui/static"]


def create_dashboard_routes() -> list[Any]:
    """The dashboard's real routes, as its router holds them (no service is called to list them)."""
    return [*auth.routes, *endpoints.routes, *events.routes, *tenants.routes,
            Mount("/static", routes=[])]


@dataclass(slots=True)
class Walk:
    """Who calls whose resources, and what went wrong (gathered, so that one run names every failure)."""

    owner: Holdings  # the tenant every refused call aims at, and the admin's allowed ones
    child: Holdings  # the owner's child: refused on the owner's, and the owner's allowed calls aim at it
    callers: dict[Role, Api]
    receiver: str
    failures: list[str]
    visited: set[tuple[str, Role]]

    def target(self, role: Role) -> Holdings:
        return self.child if role is Role.PARENT else self.owner

    def hidden(self, role: Role, sent: str) -> set[str]:
        """What `role` must not be shown of its target: the target's strings it did not send itself (a child is
        shown its parent's id as its own `parent_id`)."""
        tokens = self.owner.tokens - ({self.owner.tenant} if role is Role.CHILD else set())
        return {token for token in tokens if token not in sent}

    def fill(self, operation: Operation, variant: Variant, role: Role, path: str | None = None
             ) -> tuple[str, dict[str, str], Any]:
        target = self.target(role)
        pick = target.ref if role.refused else target.take
        filled = (path or operation.path).format(**{param: pick(name) for param, name in operation.fill.items()})
        query = {name: resource[1:] if resource.startswith("=") else target.ref(resource)
                 for name, resource in variant.query.items()}
        body = variant.body(target, self.receiver) if variant.body else None
        return filled, query, body

    def judge(self, operation: Operation, variant: Variant, role: Role, sent: str, status: int, text: str) -> None:
        where = f"{operation.route} {dict(variant.query) or ''} as {role.value}: {status}"
        self.visited.add((operation.route, role))
        expected = operation.expected(role)
        if status >= 500 or (expected is not None and status != expected):
            self.failures.append(f"{where}, expected {expected or 'no 5xx'}: {text[:300]}")
        if role.refused or operation.scope in (Scope.CALLER, Scope.OPEN):
            leaked = sorted(token for token in self.hidden(role, sent) if token in text)
            if leaked:
                self.failures.append(f"{where} shows the owner's {leaked}: {text[:300]}")
        elif (operation.scope is Scope.LISTING and operation.shows_owner and "cursor" not in variant.query
              and not any(token in text for token in self.target(role).tokens)):
            self.failures.append(f"{where} does not show what it may see of its target: {text[:300]}")


def by_uid(walk: Walk, role: Role, path: str, query: dict[str, str], body: Any
           ) -> list[tuple[str, dict[str, str], Any]]:
    """The call again with the owner's `uid` wherever it names the owner's id (a uid stands for the id in paths,
    `tenant_id` and `parent_id`), for a refused caller; none when the call does not name the owner."""
    owner, uid = walk.owner.tenant, walk.owner.uid
    sent = path + json.dumps(query) + json.dumps(body)
    if not role.refused or uid is None or owner not in sent:
        return []
    return [(path.replace(owner, uid), {k: v.replace(owner, uid) for k, v in query.items()},
             json.loads(json.dumps(body).replace(owner, uid)))]


async def call_api(walk: Walk, operation: Operation, role: Role) -> None:
    if not operation.applies(role):
        return
    caller = walk.callers[role]
    for variant in operation.variants:
        path, query, body = walk.fill(operation, variant, role)
        for sent_path, sent_query, sent_body in [(path, query, body), *by_uid(walk, role, path, query, body)]:
            reply = await caller.call(operation.method, sent_path, sent_body, params=sent_query)
            text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            sent = sent_path + json.dumps(sent_query) + json.dumps(sent_body)
            walk.judge(operation, variant, role, sent, reply.status, text)
        if operation.undo and not role.refused and reply.status < 300:
            undo_path, _, undo_body = walk.fill(operation, operation.undo[1], role, operation.undo[0])
            (await caller.post(undo_path, undo_body)).ok()


async def call_page(walk: Walk, ui: DashboardClient, csrf: str, operation: Operation, role: Role) -> None:
    for variant in operation.variants:
        path, query, form = walk.fill(operation, variant, role)
        for sent_path, sent_query, sent_form in [(path, query, form), *by_uid(walk, role, path, query, form)]:
            target = sent_path + (f"?{urlencode(sent_query)}" if sent_query else "")
            if operation.method == "GET":
                page = await ui.get(target)
            else:
                page = await ui.post(target, {**(sent_form or {}), "csrf": csrf})
            walk.judge(operation, variant, role, target + json.dumps(sent_form), page.status, page.text)
        if operation.undo and not role.refused and page.status < 400:
            undo_path, _, undo_form = walk.fill(operation, operation.undo[1], role, operation.undo[0])
            assert (await ui.post(undo_path, {**(undo_form or {}), "csrf": csrf})).status == 303


async def dashboard_as(base_url: str, http: aiohttp.ClientSession, key: str) -> tuple[DashboardClient, str]:
    ui = DashboardClient(base_url, http)
    assert (await ui.log_in(key)).status == 303
    return ui, (await ui.get("/ui/endpoints/new")).csrf


async def deliveries_finished(api: Api, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (await api.get("/v1/events", params={"delivery_status": "pending"})).ok()["data"]:
        assert time.monotonic() < deadline, "deliveries still pending"
        await asyncio.sleep(0.05)


async def owners_view(admin: Api, owner: Holdings) -> dict[str, Any]:
    """Everything of the owner's own, read with the admin key (which a suspension does not stop), its child's
    resources left out (a child's calls on its own tenant may change them)."""
    mine = owner.tenant
    view: dict[str, Any] = {}
    for path in (f"/v1/tenants/{mine}", f"/v1/tenants/{mine}/keys", f"/v1/tenants/{mine}/secrets",
                 f"/v1/endpoints/{owner.ref('endpoint')}/secrets", f"/v1/endpoints/{owner.ref('spare_endpoint')}",
                 f"/v1/endpoints/{owner.ref('validas_setting')}", f"/v1/events/{owner.ref('event')}",
                 f"/v1/subjects/{owner.ref('subject')}", f"/v1/subjects/{owner.ref('validation')}"):
        reply = await admin.get(path)
        view[path] = (reply.status, reply.body)
    for path in ("/v1/tenants", "/v1/endpoints", "/v1/events", "/v1/subjects"):
        items = (await admin.get(path, params={"limit": 500})).ok()["data"]
        view[path] = [item for item in items if mine in (item.get("tenant_id"), item.get("id"))]
    return view


async def test_every_route_keeps_tenants_apart(verihook: Running, admin: Api, http: aiohttp.ClientSession,
                                               receiver: Receiver) -> None:
    document = (await admin.get("/openapi.json")).ok()
    served_pages = dashboard_routes(create_dashboard(verihook.runtime.service).routes)
    assert uncovered(openapi_routes(document), API_TABLE) + uncovered(served_pages, UI_TABLE) == []

    owner_made = await admin.tenant(new_marker("owner"), uid=new_marker("uid"))
    owner_api = admin.as_key(owner_made["api_key"])
    child_made = (await owner_api.post("/v1/tenants", {"name": new_marker("child")})).ok()
    child_api = admin.as_key(child_made["api_key"])
    (await child_api.post("/v1/tenants", {"name": new_marker("grandchild")})).ok()  # a second page of its tenants
    other_api = await admin.as_new_tenant(new_marker("other"))
    owner = await build_holdings(owner_api, owner_made, receiver.url)
    child = await build_holdings(child_api, child_made, receiver.url)
    await deliveries_finished(owner_api)  # from now on nothing but the walk changes the owner's resources
    walk = Walk(owner, child, {Role.OTHER: other_api, Role.CHILD: child_api, Role.PARENT: owner_api,
                               Role.ADMIN: admin}, receiver.url, [], set())
    before = await owners_view(admin, owner)

    pages = {role: await dashboard_as(verihook.base_url, http, walk.callers[role].key or "") for role in Role}
    walked = [operation for operation in UI_TABLE if operation.scope is not Scope.SESSION]
    for role in (Role.OTHER, Role.CHILD):
        for operation in API_TABLE:
            await call_api(walk, operation, role)
        for operation in walked:
            await call_page(walk, *pages[role], operation, role)
    after = await owners_view(admin, owner)
    walk.failures += [f"refused calls changed the owner's {path}: {before[path]} -> {after[path]}"
                      for path in before if before[path] != after[path]]
    assert not walk.failures, "\n".join(walk.failures)

    for role in (Role.PARENT, Role.ADMIN):
        for operation in API_TABLE:
            await call_api(walk, operation, role)
        for operation in walked:
            await call_page(walk, *pages[role], operation, role)
    assert not walk.failures, "\n".join(walk.failures)
    every = {(operation.route, role) for operation in (*API_TABLE, *walked) for role in Role if operation.applies(role)}
    assert every - walk.visited == set()
