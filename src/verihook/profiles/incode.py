"""Incode (seed 004): onboarding status and global watchlist notifications, each type to its own URL.

Success is 200 with a JSON content type, or 204. Anything else, or a timeout, gets one retry that is exactly the
same request: the body and every header, the signature headers too (`sign_once`). Incode's newer policy
(exponential backoff from 30 s, factor 2.5) is offered as named retry presets; docs/profiles.md tells which
reading of "up to 5 attempts" each one is.
"""

from __future__ import annotations

from typing import Any

from verihook.errors import InvalidInput
from verihook.policy import RetryPolicy
from verihook.profiles.base import DeliveryDefaults, EventType
from verihook.profiles.seed import SeedProfile, in_order

NAME = "incode"
ONBOARDING_STATUS_CHANGED = "onboarding.status_changed"
WATCHLIST_UPDATED = "watchlist.updated"
INTERVIEW = "interview"
UNKNOWN = "UNKNOWN"  # a status an interview may have, never sent as a webhook

SENT_STATUSES = (
    "ID_VALIDATION_FINISHED",
    "ID_VALIDATION_FINISHED_SECOND_ID",
    "POST_PROCESSING_FINISHED",
    "FACE_VALIDATION_FINISHED",
    "GOVERNMENT_VALIDATION_FINISHED",
    "ONBOARDING_FINISHED",
    "MANUAL_REVIEW_APPROVED",
    "MANUAL_REVIEW_REJECTED",
)
ONBOARDING_FIELDS = ("interviewId", "externalId", "onboardingStatus")
WATCHLIST_FIELDS = ("interviewId", "ref", "search_id")

ONE_RETRY = RetryPolicy("schedule", delays_s=(5.0,))
BACKOFF = RetryPolicy("exponential", initial_s=30.0, factor=2.5, max_attempts=6)  # 5 retries, about 32 min
BACKOFF_5_ATTEMPTS = RetryPolicy("exponential", initial_s=30.0, factor=2.5, max_attempts=5)  # about 12.7 min
RETRY_PRESETS = {
    "incode-one-retry": ONE_RETRY,
    "incode-backoff": BACKOFF,
    "incode-backoff-5-attempts": BACKOFF_5_ATTEMPTS,
}

TEXT = {"type": "string", "minLength": 1}
SAMPLE_INTERVIEW_ID = "test-interview"
SAMPLES: dict[str, dict[str, Any]] = {
    ONBOARDING_STATUS_CHANGED: {"interviewId": SAMPLE_INTERVIEW_ID, "onboardingStatus": "ONBOARDING_FINISHED"},
    WATCHLIST_UPDATED: {"interviewId": SAMPLE_INTERVIEW_ID, "ref": "test-ref", "search_id": "test-search"},
}

ONBOARDING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["interviewId", "onboardingStatus"],
    "properties": {
        "interviewId": {**TEXT, "description": "Session ID"},
        "externalId": {**TEXT, "description": "External ID: only when it was sent at start"},
        "onboardingStatus": {"type": "string", "enum": list(SENT_STATUSES),
                             "description": "New status for the session (UNKNOWN is never sent)"},
    },
}

WATCHLIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(WATCHLIST_FIELDS),
    "properties": {
        "interviewId": {**TEXT, "description": "Session ID"},
        "ref": {**TEXT, "description": "Reference number received when the search was created"},
        "search_id": {**TEXT, "description": "Search id created when the search was created"},
    },
}


class IncodeProfile(SeedProfile):
    statuses = {INTERVIEW: (UNKNOWN, *SENT_STATUSES)}

    def prepare(self, event_type: str, data: Any) -> dict[str, Any]:
        if event_type == ONBOARDING_STATUS_CHANGED and isinstance(data, dict) \
                and data.get("onboardingStatus") == UNKNOWN:
            raise InvalidInput("data.onboardingStatus: UNKNOWN is never sent as an Incode webhook",
                               field="data.onboardingStatus")
        data = super().prepare(event_type, data)
        if event_type == ONBOARDING_STATUS_CHANGED:
            return in_order(data, ONBOARDING_FIELDS)
        if event_type == WATCHLIST_UPDATED:
            return in_order(data, WATCHLIST_FIELDS)
        return data

    def sample(self, event_type: str, client_id: str) -> dict[str, Any] | None:
        return SAMPLES.get(event_type)

    def status_event(self, *, subject_id: str, kind: str, external_id: str | None, tenant_id: str,
                     status: str, previous_status: str | None, data: dict[str, Any] | None,
                     ) -> tuple[str, dict[str, Any]] | None:
        if kind != INTERVIEW or status in (UNKNOWN, previous_status):
            return None
        body = {"interviewId": subject_id, "onboardingStatus": status}
        if external_id is not None:
            body["externalId"] = external_id
        return ONBOARDING_STATUS_CHANGED, body


def incode_profile() -> IncodeProfile:
    return IncodeProfile(
        name=NAME,
        description="Incode onboarding and watchlist webhooks: 200+JSON or 204, one identical retry",
        defaults=DeliveryDefaults(timeout_s=10.0, retry=ONE_RETRY, success="200-json-or-204", sign_once=True,
                                  identical_retry=True),
        retry_presets=dict(RETRY_PRESETS),
        event_types={
            ONBOARDING_STATUS_CHANGED: EventType(
                ONBOARDING_STATUS_CHANGED, NAME, ONBOARDING_SCHEMA,
                description="An onboarding session (interview) changed status."),
            WATCHLIST_UPDATED: EventType(
                WATCHLIST_UPDATED, NAME, WATCHLIST_SCHEMA,
                description="A global watchlist search has updates."),
        },
    )
