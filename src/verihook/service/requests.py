"""What a delivery sends: the request body as its destination's profile renders it from the stored event (every
attempt sends the same body, so the dashboard shows it once per delivery beside each attempt's headers)."""

from __future__ import annotations

import orjson

from verihook.model import Delivery, Event
from verihook.profiles import Message
from verihook.rules import endpoint_rules, subject_rules
from verihook.service.context import Context


class Requests:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def body(self, event: Event, delivery: Delivery) -> str:
        """The body of `delivery` of `event` (an event the caller was already allowed to read)."""
        registry = self.ctx.registry
        tenant = await self.ctx.tenant(event.tenant_id)
        tenant_profile = tenant.profile if tenant is not None else "standard"
        if delivery.endpoint_id is not None:
            endpoint = await self.ctx.store.get_endpoint(delivery.endpoint_id)
            profile = (endpoint_rules(endpoint, tenant_profile, registry).profile if endpoint is not None
                       else registry.get(tenant_profile))
        else:
            subject = (await self.ctx.store.get_subject(event.tenant_id, event.subject_id)
                       if event.subject_id else None)
            profile = subject_rules(subject.profile if subject else None, tenant_profile, registry).profile
        rendered = profile.render_body(Message(
            event_id=event.id, event_type=event.type, data_json=orjson.dumps(event.data),
            event_created_at=event.created_at, subject_id=event.subject_id, sequence=event.sequence))
        return rendered.decode("utf-8", "replace")
