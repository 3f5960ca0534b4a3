"""Subject ids are scoped to their tenant: two tenants may use the same id, neither learns the other uses it, and
a caller that acts for several tenants (an ancestor, the admin) names the tenant when the id is ambiguous."""

from __future__ import annotations

from tests.support.api import Api


async def test_two_tenants_use_one_subject_id_and_each_sees_only_its_own(admin: Api) -> None:
    acme, globex = await admin.as_new_tenant("acme"), await admin.as_new_tenant("globex")
    globex_id = (await globex.get("/v1/tenants")).ok()["data"][0]["id"]
    mine = (await acme.post("/v1/subjects", {"kind": "process", "id": "proc-1", "data": {"who": "acme"}})).ok()
    theirs = await globex.post("/v1/subjects", {"kind": "process", "id": "proc-1", "data": {"who": "globex"}})
    assert theirs.status == 201, theirs.body  # before: 409, telling globex that some tenant uses proc-1
    assert mine["tenant_id"] != theirs.body["tenant_id"] == globex_id

    for client, who in ((acme, "acme"), (globex, "globex")):
        read = (await client.get("/v1/subjects/proc-1")).ok()
        assert read["data"] == {"who": who}
        assert [s["data"] for s in (await client.get("/v1/subjects")).ok()["data"]] == [{"who": who}]
    again = await acme.post("/v1/subjects", {"kind": "process", "id": "proc-1"})
    assert again.status == 409 and again.body["field"] == "id"  # its own id is still taken
    assert (await acme.get("/v1/subjects/proc-1", params={"tenant_id": globex_id})).status == 404

    # an id only one tenant uses is neither readable by nor closed to the other
    (await acme.post("/v1/subjects", {"kind": "process", "id": "proc-2"})).ok()
    assert (await globex.get("/v1/subjects/proc-2")).status == 404
    assert (await globex.patch("/v1/subjects/proc-2", {"status": "done"})).status == 404
    refused = await globex.post("/v1/events", {"type": "order.created", "data": {}, "subject_id": "proc-2"})
    assert refused.status == 404 and refused.body["field"] == "subject_id"
    assert (await globex.post("/v1/subjects", {"kind": "process", "id": "proc-2"})).status == 201

    # events and status changes reach the caller's own subject only
    event = await acme.publish(subject_id="proc-1")
    assert (event["tenant_id"], event["sequence"]) == (mine["tenant_id"], 1)
    changed = (await globex.patch("/v1/subjects/proc-1", {"status": "done"})).ok()
    assert (changed["status"], changed["sequence"], changed["event"]["tenant_id"]) == ("done", 1, globex_id)
    acme_read = (await acme.get("/v1/subjects/proc-1")).ok()
    assert (acme_read["status"], acme_read["sequence"], acme_read["history"]) == (None, 1, [])
    assert [e["id"] for e in (await acme.get("/v1/subjects/proc-1/events")).ok()["data"]] == [event["id"]]
    assert [e["id"] for e in (await globex.get("/v1/subjects/proc-1/events")).ok()["data"]] == [
        changed["event"]["id"]]


async def test_an_ancestor_and_the_admin_name_the_tenant_when_an_id_repeats(admin: Api) -> None:
    parent_made = await admin.tenant("reseller")
    parent = admin.as_key(parent_made["api_key"])
    child_made = (await parent.post("/v1/tenants", {"name": "portal", "uid": "client-7"})).ok()
    child = admin.as_key(child_made["api_key"])
    (await parent.post("/v1/subjects", {"kind": "process", "id": "p-1", "data": {"who": "parent"}})).ok()
    (await child.post("/v1/subjects", {"kind": "process", "id": "p-1", "data": {"who": "child"}})).ok()
    (await child.post("/v1/subjects", {"kind": "process", "id": "c-only", "data": {"who": "child"}})).ok()

    # an ancestor: its own subject first, else the only one among its descendants; tenant_id (id or uid) picks
    assert (await parent.get("/v1/subjects/p-1")).ok()["data"] == {"who": "parent"}
    for ref in (child_made["id"], "client-7"):
        assert (await parent.get("/v1/subjects/p-1", params={"tenant_id": ref})).ok()["data"] == {"who": "child"}
    assert (await parent.get("/v1/subjects/c-only")).ok()["tenant_id"] == child_made["id"]
    changed = (await parent.patch("/v1/subjects/p-1", {"status": "done"}, params={"tenant_id": "client-7"})).ok()
    assert changed["event"]["tenant_id"] == child_made["id"]
    assert (await child.get("/v1/subjects/p-1")).ok()["status"] == "done"
    assert (await parent.get("/v1/subjects/p-1")).ok()["status"] is None
    events = (await parent.get("/v1/subjects/p-1/events", params={"tenant_id": child_made["id"]})).ok()["data"]
    assert [e["id"] for e in events] == [changed["event"]["id"]]
    assert (await parent.get("/v1/subjects/p-1/events")).ok()["data"] == []
    published = await parent.publish(subject_id="p-1")
    assert published["tenant_id"] == parent_made["id"]
    # a child never sees its parent's subject, whatever it names
    assert (await child.get("/v1/subjects/p-1", params={"tenant_id": parent_made["id"]})).status == 404

    # the admin acts for every tenant: an id two tenants use must come with tenant_id (422 naming it)
    ambiguous = await admin.get("/v1/subjects/p-1")
    assert ambiguous.status == 422 and ambiguous.body["field"] == "tenant_id"
    assert parent_made["id"] not in ambiguous.body["detail"] and child_made["id"] not in ambiguous.body["detail"]
    assert (await admin.get("/v1/subjects/p-1", params={"tenant_id": "client-7"})).ok()["data"] == {"who": "child"}
    assert (await admin.get("/v1/subjects/c-only")).ok()["tenant_id"] == child_made["id"]
    refused = await admin.post("/v1/events", {"type": "order.created", "data": {}, "subject_id": "p-1"})
    assert refused.status == 422 and refused.body["field"] == "tenant_id"
    made = await admin.publish(subject_id="p-1", tenant_id=parent_made["id"])
    assert (made["tenant_id"], made["sequence"]) == (parent_made["id"], 2)
    assert (await admin.get("/v1/subjects/nope")).status == 404


async def test_idempotency_keys_are_per_tenant_too(admin: Api) -> None:
    acme, globex = await admin.as_new_tenant("acme"), await admin.as_new_tenant("globex")
    first = await acme.publish(idempotency_key="order-1")
    other = await globex.publish(idempotency_key="order-1")
    again = await acme.publish(idempotency_key="order-1")
    assert (first["duplicate"], other["duplicate"], again["duplicate"]) == (False, False, True)
    assert other["id"] != first["id"] == again["id"]
    assert other["tenant_id"] != first["tenant_id"]
