"""POST /v1/events/batch's body read without a model per event (api/schemas.read_event_batch): what the quick
reading takes, EventBatch takes the same way; anything else is left to EventBatch, errors and all."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from verihook import limits
from verihook.api.schemas import _EVENT_BATCH, _plain_events, event_input, read_event_batch

DATA = {"process_id": "prc_1", "status": 2, "ok": True, "score": 0.5, "none": None, "checks": {"aml": ["clear"]},
        "text": "é😀"}


def by_model(body: Any) -> list[Any]:
    return [event_input(item) for item in _EVENT_BATCH.validate_python(body, from_attributes=True).events]


PLAIN = [
    {"events": [{"type": "a.b", "data": {}}]},
    {"events": [{"type": "a.b", "data": DATA, "subject_id": "sub_1", "tenant_id": "ten_1",
                 "idempotency_key": "k" * 256}] * 3},
    {"events": [{"type": "x" * 200, "data": {"n": 2**63 - 1}, "subject_id": None, "idempotency_key": None}]},
    {"events": [{"type": "a.b", "data": {"n": i}} for i in range(1000)]},
]


@pytest.mark.parametrize("body", PLAIN)
def test_a_plain_batch_is_read_quickly_as_the_model_reads_it(body: Any) -> None:
    quick = _plain_events(body)
    assert quick is not None
    assert quick == by_model(body)
    assert read_event_batch(body).events == quick


OTHER = [
    {"events": []},
    {"events": [{"type": "a.b", "data": {}}] * 1001},
    {"events": [{"type": "", "data": {}}]},
    {"events": [{"type": "x" * 201, "data": {}}]},
    {"events": [{"type": 1, "data": {}}]},
    {"events": [{"type": "a.b", "data": []}]},
    {"events": [{"type": "a.b"}]},
    {"events": [{"data": {}}]},
    {"events": [{"type": "a.b", "data": {}, "extra": 1}]},
    {"events": [{"type": "a.b", "data": {}, "idempotency_key": ""}]},
    {"events": [{"type": "a.b", "data": {}, "idempotency_key": "k" * 257}]},
    {"events": [{"type": "a.b", "data": {}, "subject_id": 5}]},
    {"events": [{"type": "a.b", "data": {}, "tenant_id": ["t"]}]},
    {"events": [{"type": "a.b", "data": {"a": "x\x00"}}]},
    {"events": [{"type": "a\x00b", "data": {}}]},
    {"events": [{"type": "a.b", "data": {"n": 2**63}}]},
    {"events": [{"type": "a.b", "data": {"n": float("nan")}}]},
    {"events": [{"type": "a.b", "data": {"é": 1}}]},  # valid, but left to the model (a key beyond ASCII)
    {"events": [{"type": "a.b", "data": {}}], "more": 1},
    {"events": ({"type": "a.b", "data": {}},)},
    {"events": "x"},
    [{"type": "a.b", "data": {}}],
    b'{"events": []}',
    None,
]


@pytest.mark.parametrize("body", OTHER)
def test_anything_else_is_read_by_the_model(body: Any) -> None:
    try:
        expected: Any = by_model(body)
    except ValidationError as error:
        expected = error.errors(include_url=False)
    try:
        got: Any = read_event_batch(body).events
    except ValidationError as error:
        got = error.errors(include_url=False)
    assert got == expected


def test_too_deep_data_is_left_to_the_model() -> None:
    deep: Any = 1
    for _ in range(limits.MAX_DEPTH + 1):
        deep = [deep]
    body = {"events": [{"type": "a.b", "data": {"d": deep}}]}
    assert _plain_events(body) is None
    with pytest.raises(ValidationError):
        read_event_batch(body)
