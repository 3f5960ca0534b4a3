"""The platform's own ids: a tenant's optional `uid` stands wherever a tenant id does, and seed bodies that carry
the client's id carry it."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from tests.support.api import Api
from tests.support.browserless import DashboardClient
from tests.support.receivers import Receiver

CLIENT_GUID = "8c55ebc3-7ac2-469e-9837-94023aa82c3d"


async def test_a_uid_stands_wherever_a_tenant_id_does(admin: Api, receiver: Receiver, http: aiohttp.ClientSession
                                                      ) -> None:
    made = await admin.tenant("reseller", uid="reseller:42")
    assert made["uid"] == "reseller:42" and made["id"].startswith("ten_")
    assert (await admin.get("/v1/tenants/reseller:42")).ok()["id"] == made["id"]
    assert (await admin.get("/v1/tenants/reseller:42/secrets")).ok()["signing_secret"].startswith("whsec_")
    child = await admin.tenant("child portal", parent_id="reseller:42", uid="child.7")
    assert child["parent_id"] == made["id"]
    reseller = admin.as_key(made["api_key"])
    endpoint = await reseller.endpoint(receiver.url, tenant_id="child.7")
    assert endpoint["tenant_id"] == child["id"]
    event = await admin.publish("order.created", {"n": 1}, tenant_id="child.7")
    assert event["tenant_id"] == child["id"]
    batch = (await admin.post("/v1/events/batch", {"events": [{"type": "order.created", "data": {"n": 2},
                                                               "tenant_id": "child.7"}]})).ok()["data"]
    assert [e["tenant_id"] for e in batch] == [child["id"]]
    subject = (await reseller.post("/v1/subjects", {"kind": "process", "tenant_id": "child.7"})).ok()
    assert subject["tenant_id"] == child["id"]
    for caller in (admin, reseller):
        link = await caller.post("/v1/tenants/child.7/portal-links")
        assert link.status == 201 and link.body["tenant_id"] == child["id"], link.body
    ui = DashboardClient(admin.base_url, http)
    await ui.log_in(made["api_key"])
    made_in_ui = await ui.post("/ui/tenants/child.7/portal-link", {"csrf": (await ui.get("/ui/tenants")).csrf})
    assert made_in_ui.status == 200 and "Portal link for child portal" in made_in_ui.text
    listed = (await admin.get("/v1/tenants")).ok()["data"]
    assert {t["id"]: t["uid"] for t in listed} == {made["id"]: "reseller:42", child["id"]: "child.7"}
    # another tenant's uid is as unknown as its id
    other = await admin.as_new_tenant("other")
    assert (await other.get("/v1/tenants/child.7")).status == 404
    reply = await other.post("/v1/endpoints", {"url": receiver.url, "tenant_id": "child.7"})
    assert reply.status == 404 and reply.body["field"] == "tenant_id"
    assert (await other.post("/v1/tenants/child.7/portal-links")).status == 404


@pytest.mark.parametrize(("uid", "status"), [
    ("", 422), ("a" * 65, 422), ("has space", 422), ("caf\u00e9", 422), ("a/b", 422), ("ten_abc", 422),
    ("a" * 64, 201), ("A-z_0.9:x", 201),
])
async def test_uid_form(admin: Api, uid: str, status: int) -> None:
    reply = await admin.post("/v1/tenants", {"name": "t", "uid": uid})
    assert reply.status == status, reply.body
    if status == 422:
        assert reply.body["field"] == "uid"


async def test_a_uid_is_unique_among_one_parents_children(admin: Api) -> None:
    await admin.tenant("first", uid="same")
    reply = await admin.post("/v1/tenants", {"name": "second", "uid": "same"})
    assert reply.status == 409 and reply.body["field"] == "uid"
    reseller = await admin.as_new_tenant("reseller")
    await reseller.tenant("child", uid="same")  # another parent: free
    again = await reseller.post("/v1/tenants", {"name": "child again", "uid": "same"})
    assert again.status == 409 and again.body["field"] == "uid"


async def test_resellers_children_may_share_a_uid_and_each_reseller_finds_its_own(
        admin: Api, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    """A uid taken by another reseller's child is no 409 (that told B which uids A's customers have); every lookup
    by uid is made among the tenants the caller acts for."""
    reseller_a, reseller_b = await admin.tenant("reseller a"), await admin.tenant("reseller b")
    a, b = admin.as_key(reseller_a["api_key"]), admin.as_key(reseller_b["api_key"])
    child_a = await a.tenant("a's customer", uid="customer-1")
    child_b = await b.tenant("b's customer", uid="customer-1")  # 409 before
    assert child_b["uid"] == "customer-1" and child_b["id"] != child_a["id"]

    for reseller, child in ((a, child_a), (b, child_b)):
        assert (await reseller.get("/v1/tenants/customer-1")).ok()["id"] == child["id"]
        made = await reseller.endpoint(receiver.url, tenant_id="customer-1")
        assert made["tenant_id"] == child["id"]
        event = await reseller.publish("order.created", {"n": 1}, tenant_id="customer-1")
        assert event["tenant_id"] == child["id"]
        subject = (await reseller.post("/v1/subjects", {"kind": "process", "tenant_id": "customer-1"})).ok()
        assert subject["tenant_id"] == child["id"]
        got = await reseller.get(f"/v1/subjects/{subject['id']}", params={"tenant_id": "customer-1"})
        assert got.ok()["tenant_id"] == child["id"]
        link = await reseller.post("/v1/tenants/customer-1/portal-links")
        assert link.status == 201 and link.body["tenant_id"] == child["id"], link.body
        keys = (await reseller.get("/v1/tenants/customer-1/keys")).ok()["data"]
        assert {k["tenant_id"] for k in keys} == {child["id"]}
        grandchild = await reseller.tenant("branch", parent_id="customer-1")
        assert grandchild["parent_id"] == child["id"]
    ui = DashboardClient(admin.base_url, http)
    await ui.log_in(reseller_b["api_key"])
    made_in_ui = await ui.post("/ui/tenants/customer-1/portal-link", {"csrf": (await ui.get("/ui/tenants")).csrf})
    assert made_in_ui.status == 200 and "Portal link for b&#39;s customer" in made_in_ui.text, made_in_ui.text

    # the admin acts for both: the uid alone is ambiguous, answered as such; the id always works
    for method, path, body, field in (
            ("GET", "/v1/tenants/customer-1", None, "tenant_id"),
            ("POST", "/v1/tenants/customer-1/portal-links", None, "tenant_id"),
            ("POST", "/v1/endpoints", {"url": receiver.url, "tenant_id": "customer-1"}, "tenant_id"),
            ("POST", "/v1/events", {"type": "order.created", "data": {}, "tenant_id": "customer-1"}, "tenant_id"),
            ("POST", "/v1/tenants", {"name": "x", "parent_id": "customer-1"}, "parent_id")):
        reply = await admin.call(method, path, body)
        assert reply.status == 422 and reply.body["field"] == field, (path, reply.body)
        assert "customer-1" in reply.body["detail"] and "id" in reply.body["detail"]
        assert child_a["id"] not in reply.body["detail"] and child_b["id"] not in reply.body["detail"]
    assert (await admin.get(f"/v1/tenants/{child_b['id']}")).ok()["uid"] == "customer-1"
    # a tenant without children sees only itself: its own uid is its own
    assert (await a.as_key(child_a["api_key"]).get("/v1/tenants/customer-1")).ok()["id"] == child_a["id"]


async def test_credas_bodies_carry_the_client_uid(admin: Api, receiver: Receiver) -> None:
    portal = await admin.tenant("credas portal", profile="credas", uid=CLIENT_GUID)
    credas = admin.as_key(portal["api_key"])
    made = await credas.endpoint(receiver.url, event_types=["process_actor.updated"])
    process = (await credas.post("/v1/subjects", {"kind": "process", "webhook_url": receiver.url + "/p?ref=1"})
               ).ok()
    event = (await credas.patch(f"/v1/subjects/{process['id']}", {"status": "2"})).ok()["event"]
    await credas.wait_event(event["id"])
    [request] = receiver.requests
    assert request.body == orjson.dumps({"ProcessId": process["id"], "ClientId": CLIENT_GUID, "Status": 2,
                                         "StatusDescription": "The process is complete"})
    (await credas.post(f"/v1/endpoints/{made['id']}/test")).ok()
    assert receiver.requests[1].json()["clientId"] == CLIENT_GUID
