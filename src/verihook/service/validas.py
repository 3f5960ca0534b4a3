"""vali-Das's own webhook API (seed 003), served by Verihook: the tenant's one webhook setting (its vali-Das
endpoint), the test call, and the event queries (sent or not, per validation).

The setting is the endpoint whose id is derived from the tenant's (`ep_validas_<tenant>`), of profile `validas`,
receiving `validation.status_changed`; a second POST replaces it. Validations are subjects of kind `validation`;
"sent" is the rolled-up delivery status: `sent=true` succeeded, `sent=false` anything else (not delivered
successfully yet): pending or failed, retries waiting included, skipped (published while the setting was
disabled), or nothing sent at all (an event published while the setting was missing), so that the filter returns
every item the listing shows with `"sent": false`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from verihook.errors import Forbidden, NotFound
from verihook.model import DeliveryStatus, Event, EventFilter, Page, Subject, Tenant
from verihook.profiles.validas import NAME as VALIDAS
from verihook.profiles.validas import STATUS_CHANGED, VALIDATION
from verihook.service.access import Caller
from verihook.service.context import TENANT_ID_PREFIX, Context
from verihook.service.endpoints import Endpoints, EndpointView
from verihook.service.events import EventDetail, Events
from verihook.service.subjects import Subjects

SENT = frozenset({DeliveryStatus.SUCCEEDED})
NOT_SENT = frozenset({DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, None})  # None: none
SETTING_PREFIX = "ep_validas_"


def setting_id(tenant: Tenant) -> str:
    return SETTING_PREFIX + tenant.id.removeprefix(TENANT_ID_PREFIX)


def sent_filter(sent: bool | None) -> frozenset[DeliveryStatus | None] | None:
    return None if sent is None else SENT if sent else NOT_SENT


@dataclass(slots=True)
class Validation:
    subject: Subject
    delivery_status: DeliveryStatus | None


class ValidasWebhook:
    def __init__(self, ctx: Context, endpoints: Endpoints, events: Events, subjects: Subjects,
                 test: Callable[[Caller, str], Awaitable[Any]]) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self.events = events
        self.subjects = subjects
        self._test = test

    def _tenant(self, caller: Caller) -> Tenant:
        if caller.tenant is None:
            raise Forbidden("the vali-Das webhook API acts for one client: call it with the tenant's API key")
        return caller.tenant

    async def put_setting(self, caller: Caller, fields: Mapping[str, Any]) -> tuple[EndpointView, bool]:
        """Create the tenant's setting, or replace it; answers it and whether it was created."""
        tenant = self._tenant(caller)
        endpoint_fields = {**fields, "profile": VALIDAS, "event_types": [STATUS_CHANGED]}
        return await self.endpoints.replace(caller, tenant, setting_id(tenant), endpoint_fields)

    async def setting(self, caller: Caller) -> EndpointView:
        tenant = self._tenant(caller)
        try:
            return await self.endpoints.get(caller, setting_id(tenant))
        except NotFound:
            raise NotFound("no webhook setting yet: create it with POST /validas/v1/webhook/settings") from None

    async def test(self, caller: Caller) -> Any:
        view = await self.setting(caller)
        return await self._test(caller, view.endpoint.id)

    async def events_page(self, caller: Caller, sent: bool | None, validation_id: str | None, limit: int,
                          cursor: str | None, tenant_id: str | None = None
                          ) -> tuple[Page[Event], dict[str, DeliveryStatus | None]]:
        where = EventFilter(tenant_ids=None if tenant_id is None else [tenant_id], type=STATUS_CHANGED,
                            subject_id=validation_id, delivery_status=sent_filter(sent))
        page = await self.events.list(caller, where, limit, cursor)
        return page, await self.events.statuses([e.id for e in page.items])

    async def event(self, caller: Caller, event_id: str) -> EventDetail:
        detail = await self.events.get(caller, event_id)
        if detail.event.type != STATUS_CHANGED:
            raise NotFound(f"event {event_id} not found")
        return detail

    async def validations(self, caller: Caller, sent: bool | None, limit: int, cursor: str | None
                          ) -> Page[Validation]:
        page = await self.subjects.list(caller, VALIDATION, sent_filter(sent), limit, cursor)
        out = []
        for subject in page.items:
            detail = await self.subjects.get(caller, subject.id, subject.tenant_id)
            out.append(Validation(subject, detail.delivery_status))
        return Page(out, page.next_cursor)

    async def validation_events(self, caller: Caller, validation_id: str, limit: int, cursor: str | None
                                ) -> tuple[Page[Event], dict[str, DeliveryStatus | None]]:
        detail = await self.subjects.get(caller, validation_id)
        if detail.subject.kind != VALIDATION:
            raise NotFound(f"validation {validation_id} not found")
        return await self.events_page(caller, None, validation_id, limit, cursor, detail.subject.tenant_id)

