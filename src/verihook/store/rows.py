"""Rows -> domain objects, the same for both stores (sqlite3.Row and asyncpg.Record are read by column name)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from verihook.model import ApiKey, Attempt, Delivery, DeliveryStatus, Event, Page, Subject, Tenant
from verihook.store.codec import encode_cursor, loads_or_none

T = TypeVar("T")
Row = Mapping[str, Any]


def tenant_of(row: Row) -> Tenant:
    return Tenant(id=row["id"], name=row["name"], parent_id=row["parent_id"], profile=row["profile"],
                  require_https=bool(row["require_https"]), created_at=row["created_at"], uid=row["uid"],
                  retention_days=row["retention_days"], suspended_at=row["suspended_at"])


def api_key_of(row: Row) -> ApiKey:
    return ApiKey(id=row["id"], tenant_id=row["tenant_id"], prefix=row["prefix"], created_at=row["created_at"],
                  expires_at=row["expires_at"])


def subject_of(row: Row) -> Subject:
    return Subject(id=row["id"], tenant_id=row["tenant_id"], kind=row["kind"], external_id=row["external_id"],
                   profile=row["profile"], webhook_url=row["webhook_url"], status=row["status"],
                   data=loads_or_none(row["data"]), sequence=row["sequence"], created_at=row["created_at"],
                   updated_at=row["updated_at"])


def event_of(row: Row) -> Event:
    return Event(id=row["id"], tenant_id=row["tenant_id"], type=row["type"], data=orjson.loads(row["data"]),
                 subject_id=row["subject_id"], sequence=row["sequence"],
                 idempotency_key=row["idempotency_key"], created_at=row["created_at"])


def delivery_of(row: Row) -> Delivery:
    return Delivery(id=row["id"], event_id=row["event_id"], tenant_id=row["tenant_id"],
                    endpoint_id=row["endpoint_id"], url=row["url"], status=DeliveryStatus(row["status"]),
                    attempt_count=row["attempt_count"], cycle_attempts=row["cycle_attempts"],
                    next_attempt_at=row["next_attempt_at"], created_at=row["created_at"],
                    updated_at=row["updated_at"], last_status_code=row["last_status_code"],
                    last_error=row["last_error"])


def attempt_of(row: Row) -> Attempt:
    return Attempt(delivery_id=row["delivery_id"], number=row["number"], at=row["at"],
                   status_code=row["status_code"], latency_ms=row["latency_ms"], error=row["error"],
                   error_detail=row["error_detail"], request_headers=orjson.loads(row["request_headers"]),
                   response_headers=orjson.loads(row["response_headers"]), response_body=row["response_body"])


def page_of(rows: Sequence[Row], limit: int, convert: Callable[[Row], T]) -> Page[T]:
    items = [convert(row) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items, encode_cursor(last["created_at"], last["id"]) if last is not None else None)
