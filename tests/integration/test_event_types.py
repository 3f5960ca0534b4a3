"""Registered event types: a JSON Schema registered with `POST /v1/event-types` checks the data of every later event
of that type, in the process that registered it and (after REGISTERED_TYPES_TTL_S) in every other one."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import jsonschema

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import ADMIN_KEY, running_verihook, settings_for_tests
from verihook.service.events import REGISTERED_TYPES_TTL_S

TYPE = "invoice.paid"
SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "number", "minimum": 0}, "currency": {"enum": ["EUR", "USD"]},
                   "lines": {"type": "array", "items": {"type": "object", "required": ["sku"]}}},
    "required": ["amount", "currency"],
}
VALID = {"amount": 12.5, "currency": "EUR", "lines": [{"sku": "a-1"}]}


async def _register(admin: Api, schema: dict[str, Any], name: str = TYPE) -> dict[str, Any]:
    reply = await admin.post("/v1/event-types", {"name": name, "schema": schema, "description": "an invoice paid"})
    assert reply.status == 201, reply.body
    return reply.body


async def _events_of(api: Api, name: str = TYPE) -> list[str]:
    return [e["id"] for e in (await api.get("/v1/events", params={"type": name, "limit": 500})).ok()["data"]]


async def _refused(api: Api, data: Any, field: str) -> dict[str, Any]:
    reply = await api.post("/v1/events", {"type": TYPE, "data": data})
    assert reply.status == 422, reply.body
    assert reply.content_type.startswith("application/problem+json")
    assert reply.body["field"] == field, reply.body
    assert TYPE in reply.body["detail"], reply.body
    return reply.body


async def test_a_registered_schema_checks_published_data(admin: Api, api: Api, receiver: Receiver) -> None:
    registered = await _register(admin, SCHEMA)
    assert registered == {"name": TYPE, "profile": "standard", "description": "an invoice paid", "schema": SCHEMA,
                          "operational": False}
    listed = (await api.get("/v1/event-types")).ok()["data"]
    assert [t for t in listed if t["name"] == TYPE] == [registered]
    endpoint = await api.endpoint(receiver.url, event_types=[TYPE])

    reply = await api.post("/v1/events", {"type": TYPE, "data": VALID})
    assert reply.status == 202, reply.body
    event = reply.body
    assert [d["endpoint_id"] for d in event["deliveries"]] == [endpoint["id"]]
    [request] = await receiver.wait_for(1)
    assert request.json()["type"] == TYPE and request.json()["data"] == VALID
    await api.wait_event(event["id"])

    await _refused(api, {**VALID, "amount": "12.5"}, "data.amount")
    await _refused(api, {**VALID, "amount": -1}, "data.amount")
    await _refused(api, {**VALID, "currency": "GBP"}, "data.currency")
    await _refused(api, {"currency": "EUR"}, "data")
    await _refused(api, {**VALID, "lines": [{"sku": "a-1"}, {"qty": 2}]}, "data.lines[1]")  # as the API names paths
    batch = await api.post("/v1/events/batch", {"events": [{"type": TYPE, "data": VALID},
                                                           {"type": TYPE, "data": {**VALID, "amount": None}}]})
    assert batch.status == 422 and batch.body["field"] == "events[1].data.amount", batch.body

    assert await _events_of(api) == [event["id"]]
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 1


async def test_registering_again_changes_the_schema(admin: Api, api: Api) -> None:
    await _register(admin, {"type": "object"})
    first = await api.publish(TYPE, {"amount": "any"})
    await _register(admin, SCHEMA)
    await _refused(api, {"amount": "any", "currency": "EUR"}, "data.amount")
    assert await _events_of(api) == [first["id"]]


async def test_only_the_admin_registers_and_only_valid_schemas(admin: Api, api: Api) -> None:
    reply = await api.post("/v1/event-types", {"name": TYPE, "schema": SCHEMA})
    assert reply.status == 403, reply.body
    reply = await admin.post("/v1/event-types", {"name": TYPE, "schema": {"type": "nonsense"}})
    assert reply.status == 422 and reply.body["field"] == "schema", reply.body
    assert TYPE not in [t["name"] for t in (await api.get("/v1/event-types")).ok()["data"]]
    assert (await api.post("/v1/events", {"type": TYPE, "data": {"amount": "any"}})).status == 202


async def test_a_schema_registered_in_one_process_is_checked_in_another(
        pg_databases: pg.TestDatabases, http: aiohttp.ClientSession) -> None:
    """Two Verihooks on one PostgreSQL database, as several `verihook api` processes run: the one that did not
    register the schema (and had already seen the type without one) checks it once its copy has aged."""
    url = pg_databases.create()
    try:
        async with running_verihook(settings_for_tests(url)) as one, \
                running_verihook(settings_for_tests(url), run_dispatcher=False) as other:
            admin_one = Api(one.base_url, ADMIN_KEY, http)
            key = (await admin_one.tenant("acme"))["api_key"]
            api_other = Api(other.base_url, key, http)
            unchecked = await api_other.publish(TYPE, {"amount": "any"})

            await _register(admin_one, {"type": "object", "required": ["amount"]})
            await asyncio.sleep(REGISTERED_TYPES_TTL_S)
            await _refused(api_other, {"currency": "EUR"}, "data")
            assert TYPE in [t["name"] for t in (await api_other.get("/v1/event-types")).ok()["data"]]

            await _register(admin_one, SCHEMA)
            await asyncio.sleep(REGISTERED_TYPES_TTL_S)
            await _refused(api_other, {"amount": "any", "currency": "EUR"}, "data.amount")
            checked = await api_other.publish(TYPE, VALID)
            assert await _events_of(api_other) == [checked["id"], unchecked["id"]]
    finally:
        pg_databases.drop(url)


OPERATIONAL = ("verihook.endpoint.disabled", "verihook.delivery.exhausted")


async def test_the_operational_types_are_listed_as_built_in(admin: Api, api: Api, receiver: Receiver) -> None:
    """An endpoint may subscribe to them, so the catalog names them, flagged, with the schema their data keeps."""
    catalog = {t["name"]: t for t in (await api.get("/v1/event-types")).ok()["data"]}
    assert all(catalog[name]["operational"] is True for name in OPERATIONAL)
    assert [name for name, t in catalog.items() if t["operational"]] == list(OPERATIONAL)
    assert catalog["process.completed"]["operational"] is False
    assert (await admin.get("/v1/event-types")).ok()["data"] == list(catalog.values())

    failing = await Receiver([Answer(500)]).start()
    try:
        await api.endpoint(failing.url, retry={"strategy": "none"}, auto_disable=None)
        await api.endpoint(f"{receiver.url}/news", event_types=list(OPERATIONAL))
        await api.publish("order.created", {"n": 1})
        [news] = await receiver.wait_for(1)
    finally:
        await failing.stop()
    assert news.json()["type"] == "verihook.delivery.exhausted"
    jsonschema.validate(news.json()["data"], catalog["verihook.delivery.exhausted"]["schema"])


async def test_an_operational_type_cannot_be_registered(admin: Api) -> None:
    for name in OPERATIONAL:
        reply = await admin.post("/v1/event-types", {"name": name, "schema": {"type": "object"}})
        assert reply.status == 422 and reply.body["field"] == "name", reply.body
    listed = [t["name"] for t in (await admin.get("/v1/event-types")).ok()["data"]]
    assert [listed.count(name) for name in OPERATIONAL] == [1, 1]
