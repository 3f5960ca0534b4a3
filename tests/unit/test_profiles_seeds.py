"""The seed profiles without a server: schemas, completion of bodies, status events, presets."""

from __future__ import annotations

from typing import Any

import pytest

from verihook.errors import InvalidInput
from verihook.policy import next_retry_delay
from verihook.profiles import default_registry
from verihook.profiles.incode import BACKOFF, BACKOFF_5_ATTEMPTS

REGISTRY = default_registry()


def status_event(profile: str, kind: str, status: str, previous: str | None = None,
                 external_id: str | None = None, data: dict[str, Any] | None = None) -> Any:
    return REGISTRY.get(profile).status_event(subject_id="s-1", kind=kind, external_id=external_id,
                                              tenant_id="ten_1", status=status, previous_status=previous, data=data)


def total_s(policy: Any) -> float:
    delays, attempt = [], 1
    while (delay := next_retry_delay(policy, attempt)) is not None:
        delays.append(delay)
        attempt += 1
    return sum(delays)


def test_every_profile_schema_is_valid_and_every_type_has_one_owner() -> None:
    owners: dict[str, str] = {}
    for event_type in REGISTRY.catalog():
        event_type.check_schema()
        assert owners.setdefault(event_type.name, event_type.profile) == event_type.profile
    assert set(REGISTRY.names) == {"standard", "credas", "attestr", "validas", "incode"}
    assert len(owners) == 11


@pytest.mark.parametrize(("data", "body"), [
    ({"ClientId": "c", "ProcessId": "p", "Status": 2},
     {"ProcessId": "p", "ClientId": "c", "Status": 2, "StatusDescription": "The process is complete"}),
    ({"ProcessId": "p", "ClientId": "c", "Status": 2.0, "StatusDescription": "The process is complete"},
     {"ProcessId": "p", "ClientId": "c", "Status": 2, "StatusDescription": "The process is complete"}),
])
def test_credas_process_body(data: dict[str, Any], body: dict[str, Any]) -> None:
    prepared = REGISTRY.owner_of("process.completed").prepare("process.completed", data)  # type: ignore[union-attr]
    assert prepared == body and list(prepared) == list(body) and type(prepared["Status"]) is int


@pytest.mark.parametrize(("sms", "email", "sms_text", "email_text"), [
    (0, 0, "Not sent", "Not sent"), (1, 1, "Sent", "Sent"), (2, 2, "Delivered", "Delivered"),
    (5, 3, "Bounced", "Opened"), (5, 5, "Bounced", "Bounced"),
])
def test_credas_actor_descriptions_are_the_status_column(sms: int, email: int, sms_text: str, email_text: str
                                                         ) -> None:
    data = {"emailStatus": email, "smsStatus": sms, "entityId": "e", "processActorId": 1, "processId": "p",
            "clientId": "c"}
    prepared = REGISTRY.get("credas").prepare("process_actor.updated", data)
    assert list(prepared) == ["clientId", "processId", "processActorId", "entityId", "smsStatus",
                              "smsStatusDescription", "emailStatus", "emailStatusDescription"]
    assert (prepared["smsStatusDescription"], prepared["emailStatusDescription"]) == (sms_text, email_text)


@pytest.mark.parametrize(("event_type", "data", "field"), [
    ("process.completed", {"ProcessId": "p", "ClientId": "c"}, "data"),
    ("process.completed", {"ProcessId": "p", "ClientId": "c", "Status": True}, "data.Status"),
    ("process_actor.updated", {"clientId": "c", "processId": "p", "processActorId": 1, "entityId": "e",
                               "smsStatus": 3, "emailStatus": 0}, "data.smsStatus"),
    ("process_actor.updated", {"clientId": "c", "processId": "p", "processActorId": 1, "entityId": "e",
                               "smsStatus": 0, "emailStatus": 4}, "data.emailStatus"),
    ("validation.status_changed", {"validation_id": "v", "status": "documen2-uploaded"}, "data.status"),
    ("validation.status_changed", {"validation_id": "v", "status": "confirmed", "time": "yesterday"}, "data.time"),
    ("onboarding.status_changed", {"interviewId": "i", "onboardingStatus": "UNKNOWN"}, "data.onboardingStatus"),
    ("watchlist.updated", {"interviewId": "i", "ref": "r", "search_id": 5}, "data.search_id"),
])
def test_bodies_the_seeds_forbid_are_refused(event_type: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        REGISTRY.owner_of(event_type).prepare(event_type, data)  # type: ignore[union-attr]
    assert error.value.field == field


def test_status_events() -> None:
    assert status_event("credas", "process", "2") == (
        "process.completed", {"ProcessId": "s-1", "ClientId": "ten_1", "Status": 2})
    assert status_event("credas", "process", "2", previous="2") is None
    assert status_event("attestr", "async", "completed", data={"r": 1}) == ("async.completed", {"r": 1})
    assert status_event("attestr", "flowx", "pending") is None
    assert status_event("validas", "validation", "cancelled", previous="on-course") == (
        "validation.status_changed", {"validation_id": "s-1", "status": "cancelled"})
    assert status_event("incode", "interview", "ONBOARDING_FINISHED", external_id="x") == (
        "onboarding.status_changed", {"interviewId": "s-1", "onboardingStatus": "ONBOARDING_FINISHED",
                                      "externalId": "x"})
    assert status_event("incode", "interview", "UNKNOWN") is None


def test_validas_fills_the_time_from_its_clock() -> None:
    profile = REGISTRY.get("validas")
    profile.clock = lambda: 1_767_225_600.0  # type: ignore[attr-defined]
    try:
        body = profile.prepare("validation.status_changed", {"status": "confirmed", "validation_id": "v"})
    finally:
        del profile.clock  # type: ignore[attr-defined]
    assert body == {"validation_id": "v", "status": "confirmed", "time": "2026-01-01T00:00:00.000Z"}


@pytest.mark.parametrize(("profile", "kind", "status", "field"), [
    ("credas", "process", "3", "status"), ("credas", "applicant", "2", "kind"),
    ("validas", "validation", "documen2-uploaded", "status"), ("incode", "interview", "DONE", "status"),
    ("attestr", "flowx", "finished", "status"),
])
def test_subject_statuses_outside_the_tables_are_refused(profile: str, kind: str, status: str, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        REGISTRY.get(profile).check_subject_status(kind, status)
    assert error.value.field == field


def test_incode_backoff_presets() -> None:
    assert REGISTRY.retry_preset("incode-backoff") is BACKOFF
    assert BACKOFF.max_attempts_total == 6 and 31 * 60 < total_s(BACKOFF) < 33 * 60  # "about 32 minutes"
    assert BACKOFF_5_ATTEMPTS.max_attempts_total == 5 and total_s(BACKOFF_5_ATTEMPTS) == 761.25
    with pytest.raises(InvalidInput):
        REGISTRY.retry_preset("nope")
