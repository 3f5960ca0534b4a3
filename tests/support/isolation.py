"""The isolation walk's table: every API operation and dashboard page, how its path (and its filters, cursors and
body) is filled with a tenant's real resources, and what each kind of caller must get; the check that the table
names every route the app serves; and the tenants' holdings the walk fills paths with.

Callers (`Role`): another tenant on the owner's resources, the owner's child on its parent's (both refused: 404 and
nothing of the owner's in the answer), the parent on its child's (allowed: a parent sees its subtree, docs/API.md)
and the admin on the owner's (allowed).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.api import Api


class Role(enum.Enum):
    OTHER = "another tenant"
    CHILD = "a child on its parent"
    PARENT = "a parent on its child"
    ADMIN = "the admin"

    @property
    def refused(self) -> bool:
        return self in (Role.OTHER, Role.CHILD)


class Scope(enum.Enum):
    OWNED = "names one of the owner's resources in its path: refused 404, allowed for the parent and the admin"
    CREATE = "names the owner's tenant in its body: refused 404, allowed for the parent and the admin"
    LISTING = "lists the caller's subtree, here with filters and cursors naming the owner's: none of it shown"
    CALLER = "acts on the caller's own tenant only (vali-Das): nothing of the owner's, the admin key refused"
    ADMIN_ONLY = "the admin key only: every tenant key 403"
    OPEN = "no tenant data (operations): nothing of any tenant's"
    SESSION = "opens or ends a session; holds no tenant's resource (tests/integration/test_dashboard.py)"


OWNED_TYPE = "walk.happened"  # a free type: the events the walk publishes
Body = Callable[["Holdings", str], Any]  # (the target's holdings, the receiver's URL) -> the JSON or form body


@dataclass(frozen=True, slots=True)
class Variant:
    """One call of an operation: query parameters (each value names a resource of the target, or `=value` is the
    value itself) and a body."""

    query: Mapping[str, str] = field(default_factory=dict)
    body: Body | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    scope: Scope
    fill: Mapping[str, str] = field(default_factory=dict)  # path parameter -> the resource of the target it names
    variants: tuple[Variant, ...] = (Variant(),)
    ok: int = 200  # what the parent (on its child's) and the admin (on the owner's) get
    admin: int | None = None  # the admin's answer where it differs from `ok`
    undo: tuple[str, Variant] | None = None  # the call (same fill) that puts back what an allowed call changed
    shows_owner: bool = True  # an allowed listing shows the target's resources

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    def applies(self, role: Role) -> bool:
        """A parent's call of a route acting on the caller's own tenant is not about its child."""
        return not (role is Role.PARENT and self.scope is Scope.CALLER)

    def expected(self, role: Role) -> int | None:
        """The status `role` must get; None: any but a 5xx (a caller acting on its own tenant)."""
        if self.scope is Scope.ADMIN_ONLY:
            return self.ok if role is Role.ADMIN else 403
        if self.scope is Scope.CALLER:
            return self.admin if role is Role.ADMIN else None
        if self.scope in (Scope.LISTING, Scope.OPEN):
            return self.ok
        if role.refused:
            return 404
        return self.admin if role is Role.ADMIN and self.admin is not None else self.ok


def _json(value: Any) -> Body:
    return lambda _holdings, _receiver: value


def _create_endpoint(h: Holdings, receiver: str) -> Any:
    return {"url": f"{receiver}/made-by-the-walk", "tenant_id": h.tenant}


def _publish(h: Holdings, _: str) -> Any:
    return {"type": OWNED_TYPE, "data": {"by": "walk"}, "tenant_id": h.tenant}


def _publish_to_subject(h: Holdings, _: str) -> Any:
    return {"type": OWNED_TYPE, "data": {"by": "walk"}, "subject_id": h.ref("subject")}


# ---- the API: every operation of /openapi.json ----------------------------------------------------------------------

TENANT = {"tenant_id": "tenant"}
ENDPOINT = {"endpoint_id": "endpoint"}
EVENT = {"event_id": "event"}
SUBJECT = {"subject_id": "subject"}

API_TABLE: tuple[Operation, ...] = (
    Operation("POST", "/v1/tenants", Scope.CREATE, ok=201,
              variants=(Variant(body=lambda h, _: {"name": "walk-made", "parent_id": h.tenant}),)),
    Operation("GET", "/v1/tenants", Scope.LISTING, variants=(Variant(), Variant({"cursor": "tenants_cursor"}))),
    Operation("GET", "/v1/tenants/{tenant_id}", Scope.OWNED, TENANT),
    Operation("PATCH", "/v1/tenants/{tenant_id}", Scope.OWNED, TENANT,
              variants=(Variant(body=_json({"retention_days": 9})),)),
    Operation("GET", "/v1/tenants/{tenant_id}/secrets", Scope.OWNED, TENANT),
    Operation("POST", "/v1/tenants/{tenant_id}/portal-links", Scope.OWNED, TENANT, ok=201,
              variants=(Variant(body=_json({"ttl_s": 60})),)),
    Operation("POST", "/v1/tenants/{tenant_id}/keys", Scope.OWNED, TENANT, ok=201,
              variants=(Variant(body=_json({"grace_s": 86400})),)),
    Operation("GET", "/v1/tenants/{tenant_id}/keys", Scope.OWNED, TENANT),
    Operation("DELETE", "/v1/tenants/{tenant_id}/keys/{key_id}", Scope.OWNED,
              {"tenant_id": "tenant", "key_id": "spare_key"}, ok=204),
    Operation("POST", "/v1/tenants/{tenant_id}/suspend", Scope.OWNED, TENANT,
              undo=("/v1/tenants/{tenant_id}/resume", Variant())),
    Operation("POST", "/v1/tenants/{tenant_id}/resume", Scope.OWNED, TENANT),
    Operation("POST", "/v1/endpoints", Scope.CREATE, ok=201, variants=(Variant(body=_create_endpoint),)),
    Operation("GET", "/v1/endpoints", Scope.LISTING, variants=(Variant(), Variant({"cursor": "endpoints_cursor"}))),
    Operation("GET", "/v1/endpoints/{endpoint_id}", Scope.OWNED, ENDPOINT),
    Operation("PATCH", "/v1/endpoints/{endpoint_id}", Scope.OWNED, ENDPOINT,
              variants=(Variant(body=_json({"description": "changed by the walk"})),)),
    Operation("DELETE", "/v1/endpoints/{endpoint_id}", Scope.OWNED, {"endpoint_id": "spare_endpoint"}, ok=204),
    Operation("GET", "/v1/endpoints/{endpoint_id}/secrets", Scope.OWNED, ENDPOINT),
    Operation("POST", "/v1/endpoints/{endpoint_id}/secret/rotate", Scope.OWNED, ENDPOINT,
              variants=(Variant(body=_json({"grace_s": 60})),)),
    Operation("POST", "/v1/endpoints/{endpoint_id}/test", Scope.OWNED, ENDPOINT),
    Operation("POST", "/v1/endpoints/{endpoint_id}/recover", Scope.OWNED, ENDPOINT,
              variants=(Variant(body=_json({"since": "2000-01-01T00:00:00Z", "include_skipped": True})),)),
    Operation("POST", "/v1/events", Scope.CREATE, ok=202,
              variants=(Variant(body=_publish), Variant(body=_publish_to_subject))),
    Operation("GET", "/v1/events", Scope.LISTING,
              variants=(Variant(), Variant({"endpoint_id": "endpoint"}), Variant({"subject_id": "subject"}),
                        Variant({"type": "event_type"}), Variant({"cursor": "events_cursor"}))),
    Operation("POST", "/v1/events/batch", Scope.CREATE, ok=202,
              variants=(Variant(body=lambda h, r: {"events": [_publish(h, r)]}),
                        Variant(body=lambda h, r: {"events": [_publish_to_subject(h, r)]}))),
    Operation("GET", "/v1/events/{event_id}", Scope.OWNED, EVENT),
    Operation("POST", "/v1/events/{event_id}/redeliver", Scope.OWNED, EVENT, ok=202),
    Operation("POST", "/v1/subjects", Scope.CREATE, ok=201,
              variants=(Variant(body=lambda h, _: {"kind": "process", "tenant_id": h.tenant}),)),
    Operation("GET", "/v1/subjects", Scope.LISTING,
              variants=(Variant(), Variant({"kind": "subject_kind"}), Variant({"cursor": "subjects_cursor"}))),
    Operation("GET", "/v1/subjects/{subject_id}", Scope.OWNED, SUBJECT,
              variants=(Variant(), Variant({"tenant_id": "tenant"}))),
    Operation("PATCH", "/v1/subjects/{subject_id}", Scope.OWNED, SUBJECT,
              variants=(Variant(body=_json({"status": "walked"})),
                        Variant({"tenant_id": "tenant"}, _json({"status": "walked"})))),
    Operation("GET", "/v1/subjects/{subject_id}/events", Scope.OWNED, SUBJECT,
              variants=(Variant(), Variant({"tenant_id": "tenant"}))),
    Operation("GET", "/v1/event-types", Scope.LISTING, shows_owner=False),
    Operation("POST", "/v1/event-types", Scope.ADMIN_ONLY, ok=201,
              variants=(Variant(body=_json({"name": "walk.registered", "schema": {"type": "object"}})),)),
    Operation("GET", "/validas/v1/webhook/settings", Scope.CALLER, admin=403),
    Operation("POST", "/validas/v1/webhook/settings", Scope.CALLER, admin=403,
              variants=(Variant(body=lambda h, _: {
                  "url": "https://127.0.0.1:9/made-by-the-walk", "enabled": False,
                  "auth": {"type": "oauth2", "token_url": "https://127.0.0.1:9/token", "client_id": "walk",
                           "client_secret": "walk-secret"}}),)),
    Operation("POST", "/validas/v1/webhook/test", Scope.CALLER, admin=403),
    Operation("GET", "/validas/v1/webhook/events", Scope.LISTING,
              variants=(Variant(), Variant({"validation_id": "validation"}),
                        Variant({"cursor": "validas_events_cursor"}))),
    Operation("GET", "/validas/v1/webhook/events/{event_id}", Scope.OWNED, {"event_id": "validas_event"}),
    Operation("GET", "/validas/v1/webhook/validations", Scope.LISTING,
              variants=(Variant(), Variant({"cursor": "validations_cursor"}))),
    Operation("GET", "/validas/v1/webhook/validations/{validation_id}/events", Scope.OWNED,
              {"validation_id": "validation"}),
    Operation("GET", "/healthz", Scope.OPEN, shows_owner=False),
    Operation("GET", "/readyz", Scope.OPEN, shows_owner=False),
    Operation("GET", "/metrics", Scope.OPEN, shows_owner=False),
)


# ---- the dashboard: every route of verihook.web's router, under /ui -------------------------------------------------

def _form(value: dict[str, str]) -> Body:
    return lambda _holdings, _receiver: value


def _new_webhook(h: Holdings, receiver: str) -> dict[str, str]:
    return {"url": f"{receiver}/made-by-the-walk", "auth_type": "none", "profile": "standard",
            "tenant_id": h.tenant}


UI_ENDPOINT = {"endpoint_id": "endpoint"}
UI_TENANT = {"tenant_id": "tenant"}

UI_TABLE: tuple[Operation, ...] = (
    Operation("GET", "/ui/login", Scope.SESSION),
    Operation("POST", "/ui/login", Scope.SESSION),
    Operation("POST", "/ui/logout", Scope.SESSION),
    Operation("GET", "/ui/portal/{token}", Scope.SESSION),
    Operation("MOUNT", "/ui/static", Scope.SESSION),
    Operation("GET", "/ui/endpoints", Scope.LISTING, variants=(Variant(), Variant({"cursor": "endpoints_cursor"}))),
    Operation("POST", "/ui/endpoints", Scope.CREATE, ok=303, variants=(Variant(body=_new_webhook),)),
    Operation("GET", "/ui/endpoints/new", Scope.LISTING, shows_owner=False),
    Operation("GET", "/ui/endpoints/{endpoint_id}", Scope.OWNED, UI_ENDPOINT,
              variants=(Variant(), Variant({"window": "=7d"}))),
    Operation("POST", "/ui/endpoints/{endpoint_id}", Scope.OWNED, UI_ENDPOINT, ok=303,
              variants=(Variant(body=lambda _, r: {"url": f"{r}/edited-by-the-walk", "description": "edited"}),)),
    Operation("POST", "/ui/endpoints/{endpoint_id}/enabled", Scope.OWNED, UI_ENDPOINT, ok=303,
              variants=(Variant(body=_form({"enabled": "false"})),),
              undo=("/ui/endpoints/{endpoint_id}/enabled", Variant(body=_form({"enabled": "true"})))),
    Operation("POST", "/ui/endpoints/{endpoint_id}/rotate", Scope.OWNED, UI_ENDPOINT, ok=303),
    Operation("POST", "/ui/endpoints/{endpoint_id}/test", Scope.OWNED, UI_ENDPOINT),
    Operation("POST", "/ui/endpoints/{endpoint_id}/recover", Scope.OWNED, UI_ENDPOINT,
              variants=(Variant(body=_form({"window": "24h", "include_skipped": "on"})),)),
    Operation("GET", "/ui/events", Scope.LISTING,
              variants=(Variant(), Variant({"endpoint": "endpoint"}), Variant({"subject": "subject"}),
                        Variant({"type": "event_type"}), Variant({"cursor": "events_cursor"}))),
    Operation("GET", "/ui/events/{event_id}", Scope.OWNED, {"event_id": "event"}),
    Operation("POST", "/ui/events/{event_id}/redeliver", Scope.OWNED, {"event_id": "event"}, ok=303),
    Operation("GET", "/ui/", Scope.LISTING, shows_owner=False, variants=(Variant(), Variant({"window": "=7d"}))),
    Operation("GET", "/ui/subjects", Scope.LISTING,
              variants=(Variant(), Variant({"kind": "subject_kind"}), Variant({"cursor": "subjects_cursor"}))),
    Operation("GET", "/ui/subjects/{subject_id}", Scope.OWNED, {"subject_id": "subject"},
              variants=(Variant(), Variant({"tenant": "tenant"}))),
    Operation("GET", "/ui/tenants", Scope.LISTING, shows_owner=False),
    Operation("POST", "/ui/tenants/{tenant_id}/portal-link", Scope.OWNED, UI_TENANT),
    Operation("POST", "/ui/tenants/{tenant_id}/keys", Scope.OWNED, UI_TENANT,
              variants=(Variant(body=_form({"grace": "24h"})),)),
    Operation("POST", "/ui/tenants/{tenant_id}/keys/{key_id}/revoke", Scope.OWNED,
              {"tenant_id": "tenant", "key_id": "spare_key"}, ok=303),
    Operation("POST", "/ui/tenants/{tenant_id}/suspend", Scope.OWNED, UI_TENANT, ok=303,
              undo=("/ui/tenants/{tenant_id}/resume", Variant())),
    Operation("POST", "/ui/tenants/{tenant_id}/resume", Scope.OWNED, UI_TENANT, ok=303),
)


def uncovered(served: Iterable[str], table: Iterable[Operation]) -> list[str]:
    """What the table misses of the routes served ("GET /v1/x"), and what it names that is no longer served."""
    served_routes = list(dict.fromkeys(served))
    known = {operation.route for operation in table}
    missing = [f"route not covered by the isolation walk: {route}" for route in served_routes if route not in known]
    stale = [f"route in the isolation walk's table but not served: {route}" for route in sorted(known)
             if route not in served_routes]
    return missing + stale


def openapi_routes(document: Mapping[str, Any]) -> list[str]:
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
            if method in methods]


def dashboard_routes(routes: Iterable[Any], prefix: str = "/ui") -> list[str]:
    """Every route of a Starlette router: `METHOD /ui/path` per method (HEAD, which Starlette adds to GET, left
    out), `MOUNT /ui/path` for a mounted app."""
    out = []
    for route in routes:
        methods = getattr(route, "methods", None)
        path = prefix + route.path if route.path != "/" else prefix + "/"
        if methods is None:
            out.append(f"MOUNT {path}")
            continue
        out.extend(f"{method} {path}" for method in sorted(methods - {"HEAD"}))
    return out


# ---- what a tenant holds --------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Holdings:
    """A tenant's real resources, by the names the table fills paths with, and every string of its data that another
    caller must never be shown (its `tokens`)."""

    api: Api
    tenant: str
    marker: str
    uid: str | None = None
    refs: dict[str, str] = field(default_factory=dict)
    pools: dict[str, list[str]] = field(default_factory=dict)  # resources an allowed call uses up, one each
    tokens: set[str] = field(default_factory=set)

    def ref(self, name: str) -> str:
        if name == "tenant":
            return self.tenant
        if name in self.pools:
            return self.pools[name][0]
        return self.refs[name]

    def take(self, name: str) -> str:
        return self.pools[name].pop(0) if name in self.pools else self.ref(name)

    def keep(self, *values: Any) -> None:
        self.tokens.update(str(v) for v in values if v)


async def build_holdings(api: Api, tenant: dict[str, Any], receiver: str) -> Holdings:
    """Everything a tenant can own, made with its own key: endpoints (one to use up), events delivered with their
    attempts, subjects, vali-Das validations and their events (and a disabled vali-Das setting), spare API keys; and
    a cursor of each listing, taken on its first page of one."""
    marker = tenant["name"]
    h = Holdings(api, tenant["id"], marker, tenant.get("uid"))
    h.keep(tenant["id"], tenant["uid"], marker, tenant["api_key"], tenant["signing_secret"])
    for name in ("endpoint", "spare_endpoint"):
        made = (await api.post("/v1/endpoints", {"url": f"{receiver}/{marker}/{name}", "retry": {"strategy": "none"},
                                                 "description": f"{marker} {name}"})).ok()
        h.refs[name] = made["id"]
        h.keep(made["id"], made["signing_secret"])
    h.pools["spare_endpoint"] = [h.refs.pop("spare_endpoint")]
    subject = (await api.post("/v1/subjects", {"kind": "process", "data": {"owner": marker}})).ok()
    h.refs.update(subject=subject["id"], subject_kind=subject["kind"], event_type=OWNED_TYPE)
    event = await api.publish(OWNED_TYPE, {"owner": marker})
    changed = (await api.patch(f"/v1/subjects/{subject['id']}", {"status": "started", "data": {"owner": marker}})).ok()
    h.refs["event"] = event["id"]
    h.keep(subject["id"], event["id"], changed["event"]["id"])
    setting = (await api.post("/validas/v1/webhook/settings", {
        "url": f"https://127.0.0.1:9/{marker}/validas", "enabled": False,
        "auth": {"type": "oauth2", "token_url": "https://127.0.0.1:9/token", "client_id": f"{marker}-client",
                 "client_secret": f"{marker}-client-secret"}})).ok()
    h.refs["validas_setting"] = setting["id"]
    h.keep(setting["id"])
    for number in (1, 2):
        validation = (await api.post("/v1/subjects", {"kind": "validation", "profile": "validas",
                                                      "data": {"owner": marker, "number": number}})).ok()
        h.keep(validation["id"])
        for status in ("on-course", "confirmed"):
            published = (await api.patch(f"/v1/subjects/{validation['id']}", {"status": status})).ok()["event"]
            h.keep(published["id"])
        h.refs.setdefault("validation", validation["id"])
        h.refs.setdefault("validas_event", published["id"])
    spare_keys = []
    for _ in range(2):
        key = (await api.post(f"/v1/tenants/{h.tenant}/keys", {"grace_s": 86400})).ok()
        spare_keys.append(key["id"])
        h.keep(key["id"], key["api_key"], key["prefix"])
    h.pools["spare_key"] = spare_keys
    for name, path in (("tenants_cursor", "/v1/tenants"), ("endpoints_cursor", "/v1/endpoints"),
                       ("events_cursor", "/v1/events"), ("subjects_cursor", "/v1/subjects"),
                       ("validas_events_cursor", "/validas/v1/webhook/events"),
                       ("validations_cursor", "/validas/v1/webhook/validations")):
        cursor = (await api.get(path, params={"limit": 1})).ok()["next_cursor"]
        assert cursor, f"{path} of {marker} has one page only: the walk needs a cursor"
        h.refs[name] = cursor
    return h


def new_marker(role: str) -> str:
    """A tenant name no other string of the run contains: found in an answer, it is that tenant's data."""
    return f"walk-{role}-{secrets.token_hex(6)}"
