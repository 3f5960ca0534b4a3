"""Credas: the process webhook (seed 000) and the process actor webhook (seed 001), to the letter.

Process webhooks go only to the process's own `webhook_url` (fixed when the process is created), with the
PascalCase body `{"ProcessId", "ClientId", "Status": 2, "StatusDescription": "The process is complete"}`.
Process actor webhooks go to the portal's (tenant's) endpoints, with the camelCase body of seed 001; the SMS and
e-mail status codes come from the seed's tables and their descriptions are the tables' Status column.
"""

from __future__ import annotations

import uuid
from typing import Any

from verihook.policy import STANDARD_RETRY
from verihook.profiles.base import DeliveryDefaults, EventType
from verihook.profiles.seed import SeedProfile, described, in_order, integers

NAME = "credas"
PROCESS_COMPLETED = "process.completed"
PROCESS_ACTOR_UPDATED = "process_actor.updated"
PROCESS = "process"

# ID -> (Status, Description), as the seed tables print them
PROCESS_STATUSES = {2: ("Complete", "The process is complete")}
SMS_STATUSES = {
    0: ("Not sent", "SMS not sent"),
    1: ("Sent", "SMS sent"),
    2: ("Delivered", "SMS delivered successfully"),
    5: ("Bounced", "SMS delivery failed"),
}
EMAIL_STATUSES = {
    0: ("Not sent", "Email not sent"),
    1: ("Sent", "Email sent"),
    2: ("Delivered", "Email delivered successfully"),
    3: ("Opened", "Email opened"),
    5: ("Bounced", "Email delivery failed"),
}
COMPLETE = 2
SAMPLE_ID = "00000000-0000-4000-8000-000000000000"  # the sample process (and entity) of a test notification

PROCESS_FIELDS = ("ProcessId", "ClientId", "Status", "StatusDescription")
ACTOR_FIELDS = ("clientId", "processId", "processActorId", "entityId", "smsStatus", "smsStatusDescription",
                "emailStatus", "emailStatusDescription")


def _codes(table: dict[int, tuple[str, str]], what: str) -> dict[str, Any]:
    return {"type": "integer", "enum": list(table),
            "description": f"{what}: " + ", ".join(f"{code} = {status}" for code, (status, _) in table.items())}


def _texts(table: dict[int, tuple[str, str]], column: int) -> dict[str, Any]:
    return {"type": "string", "enum": [row[column] for row in table.values()],
            "description": "filled in from the code when left out"}


TEXT = {"type": "string", "minLength": 1}

PROCESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ProcessId", "ClientId", "Status"],
    "properties": {
        "ProcessId": TEXT,
        "ClientId": TEXT,
        "Status": _codes(PROCESS_STATUSES, "process status"),
        "StatusDescription": _texts(PROCESS_STATUSES, 1),
    },
}

ACTOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["clientId", "processId", "processActorId", "entityId", "smsStatus", "emailStatus"],
    "properties": {
        "clientId": TEXT,
        "processId": TEXT,
        "processActorId": {"type": "integer"},
        "entityId": TEXT,
        "smsStatus": _codes(SMS_STATUSES, "SMS status"),
        "smsStatusDescription": _texts(SMS_STATUSES, 0),
        "emailStatus": _codes(EMAIL_STATUSES, "e-mail status"),
        "emailStatusDescription": _texts(EMAIL_STATUSES, 0),
    },
}


class CredasProfile(SeedProfile):
    statuses = {PROCESS: (str(COMPLETE),)}

    def prepare(self, event_type: str, data: Any) -> dict[str, Any]:
        data = dict(super().prepare(event_type, data))
        if event_type == PROCESS_COMPLETED:
            integers(data, ["Status"])
            described(data, "Status", "StatusDescription", {k: v[1] for k, v in PROCESS_STATUSES.items()})
            return in_order(data, PROCESS_FIELDS)
        if event_type == PROCESS_ACTOR_UPDATED:
            integers(data, ["processActorId", "smsStatus", "emailStatus"])
            described(data, "smsStatus", "smsStatusDescription", {k: v[0] for k, v in SMS_STATUSES.items()})
            described(data, "emailStatus", "emailStatusDescription", {k: v[0] for k, v in EMAIL_STATUSES.items()})
            return in_order(data, ACTOR_FIELDS)
        return data

    def sample(self, event_type: str, client_id: str) -> dict[str, Any] | None:
        if event_type == PROCESS_COMPLETED:
            return {"ProcessId": SAMPLE_ID, "ClientId": client_id, "Status": COMPLETE}
        if event_type == PROCESS_ACTOR_UPDATED:
            return {"clientId": client_id, "processId": SAMPLE_ID, "processActorId": 0, "entityId": SAMPLE_ID,
                    "smsStatus": 2, "emailStatus": 2}
        return None

    def status_event(self, *, subject_id: str, kind: str, external_id: str | None, tenant_id: str,
                     status: str, previous_status: str | None, data: dict[str, Any] | None,
                     ) -> tuple[str, dict[str, Any]] | None:
        if kind != PROCESS or status != str(COMPLETE) or previous_status == status:
            return None  # a process completes once: one webhook
        return PROCESS_COMPLETED, {"ProcessId": subject_id, "ClientId": tenant_id, "Status": COMPLETE}

    def new_subject_id(self, kind: str) -> str | None:
        return str(uuid.uuid4())  # Credas process ids are GUIDs


def credas_profile() -> CredasProfile:
    return CredasProfile(
        name=NAME,
        description="Credas process and process actor webhooks",
        defaults=DeliveryDefaults(timeout_s=15.0, retry=STANDARD_RETRY, success="2xx"),
        event_types={
            PROCESS_COMPLETED: EventType(
                PROCESS_COMPLETED, NAME, PROCESS_SCHEMA, opt_in=True,
                description="A Credas process is complete. Sent to the process's own webhook_url (and to an "
                            "endpoint only when its event_types name this type)."),
            PROCESS_ACTOR_UPDATED: EventType(
                PROCESS_ACTOR_UPDATED, NAME, ACTOR_SCHEMA, subject_url=False,
                description="The SMS or e-mail invite of a process actor changed status. Sent to the portal's "
                            "(tenant's) endpoints, never to a process's own webhook_url."),
        },
    )
