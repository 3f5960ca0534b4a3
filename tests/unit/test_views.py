"""The response views: what a caller sees of secrets and URL passwords, numbers as given, fields left out when not
set, the rolled-up status; each as the JSON the API writes (json.dumps of the view)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from verihook.model import Attempt, Delivery, DeliveryStatus, Endpoint, Event, Published, SigningSecret, Subject
from verihook.profiles import default_registry
from verihook.rules import endpoint_rules
from verihook.service.endpoints import EndpointView
from verihook.service.subjects import SubjectDetail
from verihook.service.views import (
    DeliveryOut,
    EndpointOut,
    EndpointSecretsOut,
    EventDetailOut,
    PublishedBatchOut,
    SubjectDetailOut,
)
from verihook.service.views.common import View

AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def wire(view: View) -> dict[str, Any]:
    return json.loads(json.dumps(view.model_dump(mode="json", by_alias=True)))


def endpoint(auth: dict[str, Any], url: str = "https://user:pw@hooks.example/in", **changes: Any) -> EndpointView:
    ep = Endpoint(id="ep_1", tenant_id="ten_1", url=url, description="", enabled=True, event_types=None,
                  profile=None, auth=auth, timeout_s=None, retry=None, success=None, headers={},
                  signing_enabled=True, signing_secrets=[SigningSecret("whsec_old", AT), SigningSecret("whsec_new")],
                  created_at=AT, updated_at=AT)
    for name, value in changes.items():
        setattr(ep, name, value)
    return EndpointView(ep, endpoint_rules(ep, "standard", default_registry()))


OAUTH2 = {"type": "oauth2", "token_url": "https://id:key@auth.example/token", "client_id": "c", "client_secret": "s"}


@pytest.mark.parametrize(("auth", "shown"), [
    ({"type": "none"}, {"type": "none"}),
    ({"type": "basic", "token": "t"}, {"type": "basic", "token": "***"}),
    ({"type": "basic", "username": "u", "password": "p"}, {"type": "basic", "username": "u", "password": "***"}),
    ({"type": "bearer", "token": "t"}, {"type": "bearer", "token": "***"}),
    (OAUTH2, {**OAUTH2, "token_url": "https://id:***@auth.example/token", "client_secret": "***"}),
    ({**OAUTH2, "scope": "read"}, {**OAUTH2, "token_url": "https://id:***@auth.example/token",
                                   "client_secret": "***", "scope": "read"}),
])
def test_an_endpoint_shows_its_secrets_only_to_the_answer_that_made_it(auth: dict[str, Any],
                                                                     shown: dict[str, Any]) -> None:
    view = endpoint(auth)
    hidden, revealed = wire(EndpointOut.of(view)), wire(EndpointOut.of(view, reveal=True))
    assert (hidden["auth"], hidden["url"], hidden["signing_secret"]) == (
        shown, "https://user:***@hooks.example/in", "***")
    assert list(hidden["auth"]) == list(shown)  # a field not set is left out, not null
    assert (revealed["auth"], revealed["url"], revealed["signing_secret"]) == (
        auth, "https://user:pw@hooks.example/in", "whsec_new")
    secrets = wire(EndpointSecretsOut.of(view))
    assert secrets == {"signing_secrets": [{"secret": "whsec_old", "expires_at": "2026-01-01T00:00:00.000Z"},
                                           {"secret": "whsec_new", "expires_at": None}],
                       "signing_secret": "whsec_new", "auth": auth}


def test_numbers_are_written_as_given() -> None:
    view = endpoint({"type": "none"}, timeout_s=5, retry={"strategy": "schedule", "delays_s": [1, 2.5], "jitter": 0})
    shown = json.dumps(EndpointOut.of(view).model_dump(mode="json"))
    assert '"timeout_s": 5,' in shown
    assert '"retry": {"strategy": "schedule", "delays_s": [1, 2.5], "jitter": 0}' in shown


def delivery(status: DeliveryStatus) -> Delivery:
    attempt = Attempt("dlv_1", 1, AT, 500, 12, None)
    return Delivery("dlv_1", "evt_1", "ten_1", "ep_1", "http://u:p@h/x", status, 1, 1, AT + 60, AT, AT,
                    attempts=[attempt])


@pytest.mark.parametrize("status", list(DeliveryStatus))
def test_a_delivery_says_its_next_attempt_only_while_pending(status: DeliveryStatus) -> None:
    shown = wire(DeliveryOut.of(delivery(status)))
    assert shown["next_attempt_at"] == ("2026-01-01T00:01:00.000Z" if status is DeliveryStatus.PENDING else None)
    assert shown["url"] == "http://u:***@h/x" and shown["status"] == status.value


@pytest.mark.parametrize(("statuses", "rolled_up"), [
    ([], None), (["succeeded"], "succeeded"), (["succeeded", "pending"], "pending"),
    (["pending", "failed", "succeeded"], "failed"),
])
def test_an_event_and_a_subject_roll_up_their_deliveries(statuses: list[str], rolled_up: str | None) -> None:
    event = Event("evt_1", "ten_1", "a.b", {}, None, None, None, AT)
    shown = wire(EventDetailOut.of(event, [delivery(DeliveryStatus(s)) for s in statuses]))
    assert shown["delivery_status"] == rolled_up and list(shown)[-2:] == ["deliveries", "delivery_status"]
    subject = Subject("sub_1", "ten_1", "check", None, None, "https://a:b@c/", None, None, 0, AT, AT)
    counts = {name.value: statuses.count(name.value) for name in DeliveryStatus}
    shown = wire(SubjectDetailOut.of(SubjectDetail(subject, [], counts)))
    assert shown["delivery_status"] == rolled_up and shown["webhook_url"] == "https://a:***@c/"


def published(duplicate: bool = False) -> Published:
    event = Event("evt_1", "ten_1", "a.b", {"n": 1, "s": "é", "f": 1.5, "l": [1, None]}, "sub_1", 3, "key", AT + 0.0005)
    pending = Delivery("dlv_1000", "evt_1", "ten_1", "ep_1", "https://u:pw@h/x", DeliveryStatus.PENDING, 0, 0,
                       AT + 0.0005, AT, AT)
    skipped = Delivery("dlv_1001", "evt_1", "ten_1", "ep_2", "https://h/y", DeliveryStatus.SKIPPED, 0, 0, None, AT, AT)
    return Published(event, [pending, skipped, delivery(DeliveryStatus.FAILED)], duplicate)


def test_the_batch_answer_is_written_as_its_view_writes_it() -> None:
    batch = [published(), published(duplicate=True),
             Published(Event("evt_2", "ten_1", "a.b", {}, None, None, None, AT), [], False)]
    written, viewed = orjson.loads(PublishedBatchOut.json_of(batch)), wire(PublishedBatchOut.of(batch))
    assert written == viewed
    assert [list(event) for event in written["data"]] == [list(event) for event in viewed["data"]]  # field order
