"""/openapi.json of a running Verihook describes every response body: each 2xx answer of each operation is a named
schema (or a list of one), never a free-form object, and every operation has a stable id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.server import running_verihook, settings_for_tests

NO_BODY = {"204"}
PLAIN_TEXT = {"metrics"}  # the Prometheus exposition format, declared as text/plain


@pytest.fixture
async def document(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    async with (running_verihook(settings_for_tests(f"sqlite:///{tmp_path / 'v.db'}"), run_dispatcher=False)
                as running, aiohttp.ClientSession() as http,
                http.get(f"{running.base_url}/openapi.json") as reply):
        assert reply.status == 200
        yield await reply.json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, item in document["paths"].items()
            for method, operation in item.items()]


def named(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A $ref to a component with properties, or a list of such."""
    if schema.get("type") == "array":
        return named(schema.get("items", {}), components)
    ref = schema.get("$ref", "")
    name = ref.removeprefix("#/components/schemas/")
    return ref.startswith("#/components/schemas/") and bool(components.get(name, {}).get("properties"))


def untyped_answers(document: dict[str, Any]) -> list[str]:
    components = document["components"]["schemas"]
    found = []
    for method, path, operation in operations(document):
        label = f"{operation.get('operationId')} ({method} {path})"
        successes = {status: answer for status, answer in operation["responses"].items() if status.startswith("2")}
        if not successes:
            found.append(f"{label}: no 2xx answer declared")
        for status, answer in successes.items():
            content = answer.get("content")
            if status in NO_BODY:
                if content:
                    found.append(f"{label} {status}: a body is declared for an answer that has none")
                continue
            if operation.get("operationId") in PLAIN_TEXT:
                if set(content or {}) != {"text/plain"}:
                    found.append(f"{label} {status}: not declared as text/plain")
                continue
            schema = (content or {}).get("application/json", {}).get("schema")
            if schema is None or not named(schema, components):
                found.append(f"{label} {status}: {schema or 'no JSON schema'}")
    return found


async def test_every_success_answer_has_a_named_schema(document: dict[str, Any]) -> None:
    assert untyped_answers(document) == []


async def test_every_operation_has_a_unique_stable_id(document: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations(document)]
    assert None not in ids
    assert len(ids) == len(set(ids)) and len(ids) >= 36
    versioned = [i for i in ids if i not in {"healthz", "readyz", "metrics"}]
    assert all(i.startswith(("v1.", "validas.webhook.")) for i in versioned), versioned


def test_the_check_names_an_operation_whose_answer_is_free_form() -> None:
    free_form = {"openapi": "3.1.0", "components": {"schemas": {"Thing": {"properties": {"a": {}}}}}, "paths": {
        "/a": {"get": {"operationId": "v1.a.get", "responses": {"200": {"content": {"application/json": {
            "schema": {"type": "object", "additionalProperties": True}}}}}}},
        "/b": {"get": {"operationId": "v1.b.get", "responses": {"200": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Thing"}}}}}}},
        "/c": {"post": {"operationId": "v1.c.create", "responses": {"201": {"description": "made"}}}}}}
    found = untyped_answers(free_form)
    assert [line.split(" ")[0] for line in found] == ["v1.a.get", "v1.c.create"], found
