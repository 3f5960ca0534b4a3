"""Attestr (seed 002): six event types, the publisher's payload as the body, `Authorization: Basic <token>`
with a token generated when the webhook is created (and replaceable), one attempt, a 5 s timeout, 200 only.

A receiver that missed an event pulls the result instead (Attestr's GetAsyncResponse / ExecutionResult):
here `GET /v1/subjects/{id}` answers the subject's `data`.
"""

from __future__ import annotations

from typing import Any

from verihook.policy import NO_RETRY
from verihook.profiles.base import DeliveryDefaults, EventType
from verihook.profiles.seed import SeedProfile

NAME = "attestr"
TIMEOUT_S = 5.0

EVENT_TYPES = {
    "async.completed": "An asynchronous eKYC API operation completed successfully.",
    "async.errored": "An asynchronous eKYC API operation ran into errors while processing.",
    "flowx.completed": "A hosted on-boarding flow: the user completed all the stages configured in the flow.",
    "flowx.errored": "A hosted on-boarding flow ran into an unrecoverable error (system or user data).",
    "flowx.skipped": "The user skipped the on-boarding flow.",
    "factx.query": "A follow-up query was posted on a background check profile.",
}

# subject kind -> status -> the event type a change to that status publishes (None: publishes nothing)
STATUS_EVENTS: dict[str, dict[str, str | None]] = {
    "async": {"pending": None, "completed": "async.completed", "errored": "async.errored"},
    "flowx": {"pending": None, "completed": "flowx.completed", "errored": "flowx.errored",
              "skipped": "flowx.skipped"},
}

PAYLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The payload differs by API; it is sent exactly as published.",
}


class AttestrProfile(SeedProfile):
    statuses = {kind: tuple(events) for kind, events in STATUS_EVENTS.items()}

    def sample(self, event_type: str, client_id: str) -> dict[str, Any] | None:
        return {"_id": "test", "event": event_type, "test": True} if event_type in EVENT_TYPES else None

    def status_event(self, *, subject_id: str, kind: str, external_id: str | None, tenant_id: str,
                     status: str, previous_status: str | None, data: dict[str, Any] | None,
                     ) -> tuple[str, dict[str, Any]] | None:
        event_type = STATUS_EVENTS.get(kind, {}).get(status)
        if event_type is None or previous_status == status:
            return None
        return event_type, dict(data or {})


def attestr_profile() -> AttestrProfile:
    return AttestrProfile(
        name=NAME,
        description="Attestr webhooks: Basic token, one attempt, 5 s, 200 only",
        defaults=DeliveryDefaults(timeout_s=TIMEOUT_S, retry=NO_RETRY, success="200", auth_type="basic"),
        event_types={name: EventType(name, NAME, PAYLOAD_SCHEMA, description=text)
                     for name, text in EVENT_TYPES.items()},
    )
