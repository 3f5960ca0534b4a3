"""vali-Das (seed 003): a notification whenever a validation changes status, to an HTTPS receiver protected by
OAuth2 (client credentials). The body is `{"validation_id", "status", "time"}`; `time` is when the status
changed, RFC 3339 in UTC.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from verihook.errors import InvalidInput
from verihook.policy import STANDARD_RETRY
from verihook.profiles.base import DeliveryDefaults, EventType
from verihook.profiles.seed import SeedProfile, in_order
from verihook.times import rfc3339

NAME = "validas"
STATUS_CHANGED = "validation.status_changed"
VALIDATION = "validation"
FIELDS = ("validation_id", "status", "time")
SAMPLE_VALIDATION_ID = "00000000-0000-4000-8000-000000000000"  # the sample validation of a test notification

STATUSES = {
    "on-course": "validation has been created",
    "document-uploaded": "validation has Score-DocumentGlobal score",
    "document2-uploaded": "validation has Score-DocumentGlobal score",
    "document3-uploaded": "validation has Score-DocumentGlobal score",
    "selfie-uploaded": "validation has ValidasScoreSelfie",
    "video-uploaded": "validation has ValidasScoreVideo",
    "cancelled": "validation cancelled with PUT /validation/{validation_id}/cancellation",
    "confirmed": "validation confirmed with PUT /validation/{validation_id}/confirmation",
    "deleted": "validation deleted with DELETE /validation/{validation_id}",
}
OLD_SPELLINGS = {"documen2-uploaded": "document2-uploaded"}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["validation_id", "status"],
    "properties": {
        "validation_id": {"type": "string", "minLength": 1},
        "status": {"type": "string", "enum": list(STATUSES),
                   "description": "; ".join(f"{name}: {text}" for name, text in STATUSES.items())},
        "time": {"type": "string", "description": "RFC 3339 time of the change; filled in when left out"},
    },
}


class ValidasProfile(SeedProfile):
    statuses = {VALIDATION: tuple(STATUSES)}
    clock: Callable[[], float] = staticmethod(time.time)

    def check_subject_status(self, kind: str, status: str) -> None:
        _check_spelling(status, "status")
        super().check_subject_status(kind, status)

    def prepare(self, event_type: str, data: Any) -> dict[str, Any]:
        if event_type == STATUS_CHANGED and isinstance(data, dict) and isinstance(data.get("status"), str):
            _check_spelling(data["status"], "data.status")
        data = dict(super().prepare(event_type, data))
        if event_type != STATUS_CHANGED:
            return data
        if "time" in data:
            _check_time(data["time"])
        else:
            data["time"] = rfc3339(self.clock())
        return in_order(data, FIELDS)

    def sample(self, event_type: str, client_id: str) -> dict[str, Any] | None:
        if event_type != STATUS_CHANGED:
            return None
        return {"validation_id": SAMPLE_VALIDATION_ID, "status": "on-course"}  # `time` is filled in: now

    def status_event(self, *, subject_id: str, kind: str, external_id: str | None, tenant_id: str,
                     status: str, previous_status: str | None, data: dict[str, Any] | None,
                     ) -> tuple[str, dict[str, Any]] | None:
        if kind != VALIDATION or status == previous_status:
            return None  # a notification is sent when a validation *changes* status
        return STATUS_CHANGED, {"validation_id": subject_id, "status": status}


def _check_spelling(status: str, field: str) -> None:
    if status in OLD_SPELLINGS:
        raise InvalidInput(f"{field}: {status!r} is an old spelling; use {OLD_SPELLINGS[status]!r}", field=field)


def _check_time(value: object) -> None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(f"data.time: {value!r} is not an RFC 3339 time with a zone, e.g. 2026-01-31T12:00:00Z",
                           field="data.time")


def validas_profile() -> ValidasProfile:
    return ValidasProfile(
        name=NAME,
        description="vali-Das validation status webhooks: HTTPS and OAuth2 client credentials",
        defaults=DeliveryDefaults(timeout_s=15.0, retry=STANDARD_RETRY, success="2xx", require_https=True,
                                  required_auth="oauth2"),
        event_types={STATUS_CHANGED: EventType(
            STATUS_CHANGED, NAME, SCHEMA, subject_url=False,
            description="A validation changed status (one of the nine vali-Das statuses).")},
    )
