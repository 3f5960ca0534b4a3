"""The default profile: the Standard Webhooks envelope {"type", "timestamp", "data"} for any dotted event type."""

from __future__ import annotations

from typing import Any

import orjson

from verihook.model import AutoDisable
from verihook.policy import STANDARD_RETRY
from verihook.profiles.base import DeliveryDefaults, Message, Profile
from verihook.times import rfc3339

SUBJECT_STATUS_CHANGED = "subject.status_changed"
# as Svix: an endpoint whose every attempt has failed for five days (and at least ten times) is disabled
STANDARD_AUTO_DISABLE = AutoDisable(failing_for_s=5 * 24 * 3600, min_failures=10)


class StandardProfile(Profile):
    def render_body(self, event: Message) -> bytes:
        return b"".join((
            b'{"type":', orjson.dumps(event.event_type),
            b',"timestamp":', orjson.dumps(rfc3339(event.event_created_at)),
            b',"data":', event.data_json, b"}",
        ))

    def status_event(self, *, subject_id: str, kind: str, external_id: str | None, tenant_id: str,
                     status: str, previous_status: str | None, data: dict[str, Any] | None,
                     ) -> tuple[str, dict[str, Any]] | None:
        body: dict[str, Any] = {"subject_id": subject_id, "kind": kind, "status": status,
                                "previous_status": previous_status}
        if external_id is not None:
            body["external_id"] = external_id
        if data is not None:
            body["data"] = data
        return SUBJECT_STATUS_CHANGED, body


def standard_profile() -> StandardProfile:
    return StandardProfile(
        name="standard",
        description="Standard Webhooks envelope for any dotted event type",
        defaults=DeliveryDefaults(timeout_s=15.0, retry=STANDARD_RETRY, success="2xx", disable_on_gone=True,
                                  auto_disable=STANDARD_AUTO_DISABLE),
    )
