"""Events: publish (with fan-out in the store's transaction), query, redeliver; and the event-type catalog."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from verihook import limits, operational
from verihook.errors import Forbidden, InvalidInput, NotFound
from verihook.ids import new_id
from verihook.model import Delivery, DeliveryStatus, Endpoint, Event, EventFilter, Page, Published, Subject, Tenant
from verihook.operational import OperationalEvent, is_operational
from verihook.profiles import EventType
from verihook.profiles.base import Profile, RemoteRef
from verihook.rules import endpoint_rules, subject_rules
from verihook.service.access import Caller
from verihook.service.context import Context
from verihook.service.seed_rules import VALIDAS_EVENT, receives_validas
from verihook.service.subject_refs import find_subject
from verihook.store.base import EventDraft, Recipient, SubjectUpdate
from verihook.tracing import PublishedEvent

MAX_BATCH = 1000
REGISTERED_TYPES_TTL_S = 1.0  # how long the registered schemas are reused; one registered elsewhere counts after this


@dataclass(slots=True)
class EventInput:
    type: str
    data: Any
    subject_id: str | None = None
    tenant_id: str | None = None
    idempotency_key: str | None = None
    within_limits: bool = False  # True: `data` was held to verihook.limits already (the API's schemas do)


@dataclass(slots=True)
class KnownInPublish:
    """What the drafts of one publish found already: each type's checks, and the tenant of each `tenant_id` given
    without a subject (the checks of both hold for the whole publish)."""

    types: dict[str, tuple[str, Profile, EventType | None]] = field(default_factory=dict)
    tenants: dict[str | None, Tenant] = field(default_factory=dict)


@dataclass(slots=True)
class EventDetail:
    event: Event
    deliveries: list[Delivery]


class Events:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._registered: dict[str, EventType] = {}
        self._registered_until = 0.0
        self._registrations = 0  # registrations made here: a reload that overlaps one is not trusted for long
        self._reloading = asyncio.Lock()

    async def publish(self, caller: Caller, inputs: Sequence[EventInput], *, batch: bool = False
                      ) -> list[Published]:
        """Publish events in one transaction; `batch`: errors name the event as `events[i]` (as do batches of
        more than one)."""
        if not inputs:
            raise InvalidInput("events must hold at least one event", field="events")
        if len(inputs) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} events per batch", field="events")
        drafts = []
        known = KnownInPublish()
        for index, item in enumerate(inputs):
            try:
                if not item.within_limits:  # the CLI and other callers are held here
                    limits.check(item.data, "data")
                checked = known.types.get(item.type)
                tenant = known.tenants.get(item.tenant_id) if item.subject_id is None else None
                if checked is not None and tenant is not None:  # as the batch's first events: no await
                    drafts.append(self._drafted(item, checked, tenant))
                else:
                    drafts.append(await self.draft(caller, item, known=known))
            except (InvalidInput, NotFound) as error:
                if not (batch or len(inputs) > 1):
                    raise
                where = f"events[{index}]"
                named = f"{where}.{error.field}" if error.field else where
                raise type(error)(f"{where}: {error.detail}", field=named) from error
        started_at = time.time()
        published = await self.ctx.store.publish(drafts, self.route)
        if any(d.status is DeliveryStatus.PENDING for p in published if not p.duplicate for d in p.deliveries):
            self.ctx.wake_dispatcher()
        self.observe_published(published, started_at)
        return published

    async def publish_operational(self, news: Sequence[OperationalEvent]) -> list[Published]:
        """Publish what Verihook itself tells tenants (verihook.operational), routed as any event: only to the
        tenant's endpoints that name the type; one that no endpoint names is not published at all."""
        drafts = []
        for item in news:
            tenant = await self.ctx.tenant(item.tenant_id)
            if tenant is None:
                continue
            drafts.append(EventDraft(id=new_id("evt"), tenant_id=tenant.id, type=item.type,
                                     data_json=orjson.dumps(item.data), subject_id=None,
                                     idempotency_key=item.idempotency_key,
                                     created_at=self.ctx.clock(), tenant_profile=tenant.profile,
                                     only_if_routed=True))
        if not drafts:
            return []
        started_at = time.time()
        published = await self.ctx.store.publish(drafts, self.route)
        if any(p.deliveries for p in published):
            self.ctx.wake_dispatcher()
        self.observe_published(published, started_at)
        return published

    def observe_published(self, published: Sequence[Published], started_at: float) -> None:
        """`verihook_events_published_total{profile}` (the profile owning each new event's type), and a
        `publish` span per new event."""
        new = [item.event for item in published if not item.duplicate]
        for event_type, count in Counter(event.type for event in new).items():
            owner = self.ctx.registry.owner_of(event_type)
            self.ctx.metrics.event_published(owner.name if owner is not None else "standard", count)
        if self.ctx.tracing.exporting:
            self.ctx.tracing.published([PublishedEvent(e.id, e.type, e.tenant_id, e.subject_id) for e in new],
                                       started_at, time.time())

    async def draft(self, caller: Caller, item: EventInput, subject_update: SubjectUpdate | None = None, *,
                    known: KnownInPublish | None = None) -> EventDraft:
        """`known`: what earlier drafts of the same publish found (a batch names a few types and tenants)."""
        checked = known.types.get(item.type) if known is not None else None
        if checked is None:
            checked = await self._checked_type(item.type)
            if known is not None:
                known.types[item.type] = checked
        tenant = known.tenants.get(item.tenant_id) if known is not None and item.subject_id is None else None
        if tenant is None:
            tenant = await self._tenant_of(caller, item)
            if known is not None and item.subject_id is None:
                known.tenants[item.tenant_id] = tenant
        return self._drafted(item, checked, tenant, subject_update)

    def _drafted(self, item: EventInput, checked: tuple[str, Profile, EventType | None], tenant: Tenant,
                 subject_update: SubjectUpdate | None = None) -> EventDraft:
        """The draft of an event whose type and tenant passed their checks (`_checked_type`, `_tenant_of`)."""
        event_type, owner, registered = checked
        data = owner.prepare(event_type, item.data)
        if registered is not None:
            registered.check(data)
        if item.idempotency_key is not None and not 1 <= len(item.idempotency_key) <= 256:
            raise InvalidInput("idempotency_key must be 1 to 256 characters", field="idempotency_key")
        if item.idempotency_key is not None and item.idempotency_key.startswith(operational.KEY_PREFIX):
            raise InvalidInput(f"idempotency_key must not start with {operational.KEY_PREFIX!r}: Verihook keys its "
                               "own operational events so", field="idempotency_key")
        return EventDraft(id=new_id("evt"), tenant_id=tenant.id, type=event_type, data_json=orjson.dumps(data),
                          subject_id=item.subject_id, idempotency_key=item.idempotency_key,
                          created_at=self.ctx.clock(), subject_update=subject_update, tenant_profile=tenant.profile,
                          data=data)

    async def _checked_type(self, name: str) -> tuple[str, Profile, EventType | None]:
        """The event type a tenant may publish (else InvalidInput naming `type`), the profile owning it, and its
        registered schema if it has one."""
        registry = self.ctx.registry
        event_type = registry.check_event_type_name(name)
        if is_operational(event_type):
            raise InvalidInput(f"event type {event_type} is published by Verihook itself, not by tenants", field="type")
        owner = registry.owner_of(event_type) or registry.get("standard")
        return event_type, owner, (await self._catalog()).get(event_type)

    async def _tenant_of(self, caller: Caller, item: EventInput) -> Tenant:
        """The tenant the event is published for, if the caller may publish for it."""
        tenant_id = await self.ctx.tenant_ref(caller, item.tenant_id)  # a Verihook id or the tenant's uid
        if item.subject_id is not None:  # looked up in tenant_id if given (subject ids are unique per tenant)
            subject = await find_subject(self.ctx, caller, item.subject_id, tenant_id, field="subject_id")
            tenant_id = subject.tenant_id
        tenant = await self.ctx.visible_tenant(caller, caller.owning_tenant(tenant_id), "tenant_id")
        await self.ctx.refuse_if_suspended(tenant.id)  # an ancestor or the admin may not publish for it either
        return tenant

    def route(self, draft: EventDraft, subject: Subject | None, endpoints: Sequence[Endpoint]) -> list[Recipient]:
        """Where an event goes: the subject's own URL, and every endpoint whose filter matches (a disabled one's
        delivery is recorded as skipped).

        A profile's event type may keep away from subjects' own URLs, or reach only endpoints that name it
        (Credas: process webhooks go only to the process's URL, actor webhooks only to the portal's)."""
        registry = self.ctx.registry
        destinations = []
        tenant_profile = draft.tenant_profile
        known = registry.event_type(draft.type)
        if subject is not None and subject.webhook_url and (known is None or known.subject_url):
            rules = subject_rules(subject.profile, tenant_profile, registry)
            destinations.append(Recipient(None, subject.webhook_url, rules.lease_s))
        opt_in = known.opt_in if known is not None else is_operational(draft.type)
        for endpoint in endpoints:
            if endpoint.matches(draft.type) and not (opt_in and endpoint.event_types is None):
                rules = endpoint_rules(endpoint, tenant_profile, registry)
                if draft.type == VALIDAS_EVENT and not receives_validas(endpoint, rules.profile.name):
                    continue
                destinations.append(Recipient(endpoint.id, endpoint.url, rules.lease_s, skipped=not endpoint.enabled))
        return destinations

    async def get(self, caller: Caller, event_id: str) -> EventDetail:
        event = await self.ctx.store.get_event(event_id)
        if event is None or not caller.can_see(event.tenant_id):
            raise NotFound(f"event {event_id} not found")
        return EventDetail(event, await self.ctx.store.deliveries_of(event.id))

    async def list(self, caller: Caller, where: EventFilter, limit: int, cursor: str | None) -> Page[Event]:
        """The events `where` selects among the caller's tenants (or among those of `where.tenant_ids` it may see)."""
        if where.tenant_ids is None:
            where.tenant_ids = caller.tenant_ids
        else:
            where.tenant_ids = [tenant_id for tenant_id in where.tenant_ids if caller.can_see(tenant_id)]
        return await self.ctx.store.list_events(where, limit, cursor)

    async def statuses(self, event_ids: Sequence[str]) -> dict[str, DeliveryStatus | None]:
        return await self.ctx.store.event_delivery_statuses(event_ids)

    async def redeliver(self, caller: Caller, event_id: str) -> int:
        detail = await self.get(caller, event_id)
        count = await self.ctx.store.redeliver_event(detail.event.id, self.ctx.clock())
        if count:
            self.ctx.wake_dispatcher()
        return count

    async def register_type(self, caller: Caller, name: str, schema: dict[str, Any], description: str) -> EventType:
        if not caller.is_admin:
            raise Forbidden("only the admin key registers event types")
        self.ctx.registry.check_event_type_name(name, field="name")
        if self.ctx.registry.owner_of(name) is not None:
            raise InvalidInput(f"event type {name} belongs to a profile and cannot be redefined", field="name")
        if is_operational(name):
            raise InvalidInput(f"event type {name} is built in (an operational event) and cannot be redefined",
                               field="name")
        event_type = EventType(name=name, profile="standard", schema=schema, description=description)
        try:
            event_type.check_schema()
        except RemoteRef as error:
            raise InvalidInput(str(error), field=error.where) from error
        except ValueError as error:
            raise InvalidInput(f"schema is not a valid JSON Schema: {error}", field="schema") from error
        await self.ctx.store.upsert_event_type(name, description, orjson.dumps(schema), self.ctx.clock())
        self._registrations += 1
        self._registered_until = 0.0
        return event_type

    async def catalog(self) -> list[EventType]:
        """The profiles' types, the operational (built-in) ones, then the registered ones."""
        return [*self.ctx.registry.catalog(), *operational.CATALOG, *(await self._catalog()).values()]

    async def _catalog(self) -> dict[str, EventType]:
        """The registered types, read again from the store once REGISTERED_TYPES_TTL_S have passed (by one caller
        while the others wait), so a type registered or changed by another process is checked here too."""
        if self.ctx.clock() >= self._registered_until:
            async with self._reloading:
                if self.ctx.clock() >= self._registered_until:
                    await self._reload_registered()
        return self._registered

    async def _reload_registered(self) -> None:
        started, registrations = self.ctx.clock(), self._registrations
        known = self._registered
        self._registered = {name: _registered_type(known.get(name), name, description, orjson.loads(schema))
                            for name, description, schema in await self.ctx.store.list_event_types()
                            if not is_operational(name)}  # one registered before they were refused is not used
        if registrations == self._registrations:
            self._registered_until = started + REGISTERED_TYPES_TTL_S


def _registered_type(known: EventType | None, name: str, description: str, schema: dict[str, Any]) -> EventType:
    """The type as read, or the one known already if unchanged (its validator is built: that is the costly part)."""
    if known is not None and known.schema == schema and known.description == description:
        return known
    return EventType(name=name, profile="standard", schema=schema, description=description)
