"""Subjects: what events are about. A status change records history and publishes the profile's status event."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

from verihook.delivery.guard import allowed_targets, check_url
from verihook.errors import Conflict, InvalidInput
from verihook.ids import new_id
from verihook.model import DeliveryStatus, Page, Published, StatusChange, Subject, SubjectFilter, rollup
from verihook.service.access import Caller
from verihook.service.context import Context
from verihook.service.events import EventInput, Events
from verihook.service.samples import client_id
from verihook.service.seed_rules import check_subject_url
from verihook.service.subject_refs import find_subject
from verihook.store.base import SubjectUpdate

SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(slots=True)
class SubjectInput:
    kind: str
    id: str | None = None
    external_id: str | None = None
    tenant_id: str | None = None
    profile: str | None = None
    webhook_url: str | None = None
    status: str | None = None
    data: dict[str, Any] | None = None


@dataclass(slots=True)
class SubjectDetail:
    subject: Subject
    history: list[StatusChange]
    deliveries: dict[str, int]  # how many of its deliveries are in each status

    @property
    def delivery_status(self) -> DeliveryStatus | None:
        """Rolled up from its deliveries' (None: it has none)."""
        return rollup(name for name, count in self.deliveries.items() if count)


@dataclass(slots=True)
class StatusChanged:
    detail: SubjectDetail
    published: Published | None  # None: this status publishes no event in the subject's profile


class Subjects:
    def __init__(self, ctx: Context, events: Events) -> None:
        self.ctx = ctx
        self.events = events

    async def create(self, caller: Caller, item: SubjectInput) -> SubjectDetail:
        tenant_id = await self.ctx.tenant_ref(caller, item.tenant_id)  # a Verihook id or the tenant's uid
        tenant = await self.ctx.visible_tenant(caller, caller.owning_tenant(tenant_id), "tenant_id")
        registry = self.ctx.registry
        profile = registry.get(registry.check_name(item.profile) if item.profile else tenant.profile)
        if item.id is not None and not SUBJECT_ID.match(item.id):
            raise InvalidInput("id must be 1 to 128 letters, digits or . _ : - (starting with a letter or digit)",
                               field="id")
        if not item.kind.strip():
            raise InvalidInput("kind must not be empty", field="kind")
        check_subject_url(profile.name, item.webhook_url)
        if item.webhook_url is not None:
            if profile.defaults.require_https and not item.webhook_url.lower().startswith("https://"):
                raise InvalidInput(f"webhook_url must use https: profile {profile.name} sends webhooks only over "
                                   "HTTPS", field="webhook_url")
            try:
                check_url(item.webhook_url, allow_private_targets=self.ctx.settings.allow_private_targets,
                          allowed=allowed_targets(self.ctx.settings.allowed_targets),
                          require_https=tenant.require_https or profile.defaults.require_https)
            except InvalidInput as error:
                detail = f"webhook_{error.detail}" if error.detail.startswith("url") else error.detail
                raise InvalidInput(detail, field="webhook_url") from error
        if item.status is not None:
            profile.check_subject_status(item.kind, item.status)
        subject_id = item.id or profile.new_subject_id(item.kind) or new_id("sub")
        if await self.ctx.store.get_subject(tenant.id, subject_id) is not None:  # ids are unique per tenant
            raise Conflict(f"subject {subject_id} exists already", field="id")
        now = self.ctx.clock()
        subject = Subject(id=subject_id, tenant_id=tenant.id, kind=item.kind, external_id=item.external_id,
                          profile=item.profile, webhook_url=item.webhook_url, status=item.status, data=item.data,
                          sequence=0, created_at=now, updated_at=now)
        await self.ctx.store.insert_subject(subject)
        return await self._detail(subject)

    async def get(self, caller: Caller, subject_id: str, tenant_ref: str | None = None) -> SubjectDetail:
        """The subject named by its id and, optionally, its tenant (service/subject_refs.py)."""
        return await self._detail(await find_subject(self.ctx, caller, subject_id, tenant_ref))

    async def change_status(self, caller: Caller, subject_id: str, status: str, data: dict[str, Any] | None,
                            tenant_ref: str | None = None) -> StatusChanged:
        subject = await find_subject(self.ctx, caller, subject_id, tenant_ref)
        tenant = await self.ctx.visible_tenant(caller, subject.tenant_id)
        profile = self.ctx.registry.get(subject.profile or tenant.profile)
        profile.check_subject_status(subject.kind, status)
        event = profile.status_event(
            subject_id=subject.id, kind=subject.kind, external_id=subject.external_id, tenant_id=client_id(tenant),
            status=status, previous_status=subject.status, data=data if data is not None else subject.data)
        update = SubjectUpdate(status, None if data is None else orjson.dumps(data))
        if event is None:
            await self.ctx.store.set_subject_status(subject.tenant_id, subject.id, update, self.ctx.clock())
            return StatusChanged(await self.get(caller, subject.id, subject.tenant_id), None)
        event_type, event_data = event
        draft = await self.events.draft(
            caller, EventInput(type=event_type, data=event_data, subject_id=subject.id, tenant_id=subject.tenant_id),
            subject_update=update)
        started_at = time.time()
        [published] = await self.ctx.store.publish([draft], self.events.route)
        if any(d.status is DeliveryStatus.PENDING for d in published.deliveries):
            self.ctx.wake_dispatcher()
        self.events.observe_published([published], started_at)
        return StatusChanged(await self.get(caller, subject.id, subject.tenant_id), published)

    async def list(self, caller: Caller, kind: str | None, delivery_status: Any, limit: int, cursor: str | None
                   ) -> Page[Subject]:
        where = SubjectFilter(tenant_ids=caller.tenant_ids, kind=kind, delivery_status=delivery_status)
        return await self.ctx.store.list_subjects(where, limit, cursor)

    async def _detail(self, subject: Subject) -> SubjectDetail:
        store = self.ctx.store
        return SubjectDetail(subject, await store.subject_history(subject.tenant_id, subject.id),
                             await store.subject_delivery_summary(subject.tenant_id, subject.id))
